# The few NixOS options keytap's module reads or sets, declared with the types NixOS gives
# them, so the module can be evaluated with `lib.evalModules` where nixpkgs and NixOS are
# not available. Used by the tests and the flake's `module-eval` check only.
{ lib, ... }:

let
  inherit (lib) mkOption types;
  inherit (import ./stub-lib.nix { inherit lib; })
    option
    strings
    bool
    assertionOptions
    ;

  activationScript = types.submodule {
    options = {
      deps = strings;
      text = mkOption { type = types.lines; };
      supportsDryActivation = bool;
    };
  };

  unit = types.submodule {
    freeformType = types.attrsOf types.anything;
    options =
      lib.genAttrs [
        "wantedBy"
        "requiredBy"
        "wants"
        "after"
        "before"
      ] (_: strings)
      // {
        environment = option (types.attrsOf (
          types.nullOr (types.oneOf [ types.str types.path types.package ])
        )) { };
        path = option (types.listOf (types.oneOf [ types.package types.str ])) [ ];
        unitConfig = option (types.attrsOf types.anything) { };
        serviceConfig = option (types.attrsOf types.anything) { };
        preStart = option types.lines "";
      };
  };

  user = types.submodule (
    { name, ... }:
    {
      options = {
        name = option types.str name;
        uid = option (types.nullOr types.int) null;
        group = option types.str "";
        isNormalUser = bool;
        isSystemUser = bool;
        hashedPasswordFile = option (types.nullOr types.str) null;
      };
    }
  );
in
{
  options = assertionOptions // {
    users.users = option (types.attrsOf user) { };
    users.groups = option (types.attrsOf (
      types.submodule { options.gid = option (types.nullOr types.int) null; }
    )) { };
    users.mutableUsers = option types.bool true;

    services.openssh.enable = bool;
    services.openssh.hostKeys = option (types.listOf (types.attrsOf types.anything)) [
      {
        type = "rsa";
        bits = 4096;
        path = "/etc/ssh/ssh_host_rsa_key";
      }
      {
        type = "ed25519";
        path = "/etc/ssh/ssh_host_ed25519_key";
      }
    ];
    services.pcscd.enable = bool;
    services.userborn.enable = bool;

    systemd.package = mkOption { type = types.package; };
    systemd.sysusers.enable = bool;
    systemd.services = option (types.attrsOf unit) { };

    system.activationScripts = option (types.attrsOf (types.either types.str activationScript)) { };
    system.build = option (types.lazyAttrsOf types.unspecified) { };
  };

  config = {
    # NixOS defines these scripts; keytap's module orders itself against them.
    system.activationScripts = {
      specialfs = lib.stringAfter [ ] "";
      users = lib.stringAfter [ ] "";
      groups = lib.stringAfter [ ] "";
    };
  };
}
