# The few NixOS options keytap's module reads or sets, declared with the types NixOS gives
# them, so the module can be evaluated with `lib.evalModules` where nixpkgs and NixOS are
# not available. Used by the tests and the flake's `module-eval` check only.
{ lib, ... }:

let
  inherit (lib) mkOption types;

  activationScript = types.submodule {
    options = {
      deps = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      text = mkOption { type = types.lines; };
      supportsDryActivation = mkOption {
        type = types.bool;
        default = false;
      };
    };
  };

  unit = types.submodule {
    freeformType = types.attrsOf types.anything;
    options = {
      wantedBy = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      requiredBy = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      wants = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      after = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      before = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.oneOf [ types.package types.str ]);
        default = [ ];
      };
      unitConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
    };
  };

  user = types.submodule (
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default = name;
        };
        uid = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        group = mkOption {
          type = types.str;
          default = "";
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
        };
        hashedPasswordFile = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
      };
    }
  );
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    users.users = mkOption {
      type = types.attrsOf user;
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.gid = mkOption {
            type = types.nullOr types.int;
            default = null;
          };
        }
      );
      default = { };
    };
    users.mutableUsers = mkOption {
      type = types.bool;
      default = true;
    };

    services.openssh.enable = mkOption {
      type = types.bool;
      default = false;
    };
    services.openssh.hostKeys = mkOption {
      type = types.listOf (types.attrsOf types.anything);
      default = [
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
    };
    services.pcscd.enable = mkOption {
      type = types.bool;
      default = false;
    };
    services.userborn.enable = mkOption {
      type = types.bool;
      default = false;
    };

    systemd.package = mkOption { type = types.package; };
    systemd.sysusers.enable = mkOption {
      type = types.bool;
      default = false;
    };
    systemd.services = mkOption {
      type = types.attrsOf unit;
      default = { };
    };

    system.activationScripts = mkOption {
      type = types.attrsOf (types.either types.str activationScript);
      default = { };
    };
    system.build = mkOption {
      type = types.lazyAttrsOf types.unspecified;
      default = { };
    };
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
