# Evaluates keytap's home-manager module through the real module system with home-manager's
# `lib.hm` (`lib` must be nixpkgs' lib extended by home-manager's
# `modules/lib/stdlib-extended.nix`) on Linux or macOS stand-in packages, and summarises
# what a configuration produces: secrets and templates read back, failed assertions, the
# user units, the launchd agent, the activation script and the installer's manifest.
{
  lib,
  system ? "x86_64-linux",
  # A directory with `bin/keytap` and `bin/sops-install-secrets` standing in for the keytap package (to run the login
  # script for real), else a fake store path.
  keytapDir ? null,
}:

let
  stub = import ./stub-pkgs.nix { inherit lib system; };
  pkgs = stub // lib.optionalAttrs (keytapDir != null) { keytap = stub.keytap // { outPath = keytapDir; }; };
in
(import ./stub-lib.nix { inherit lib; }).harness
  [
    ../home-manager.nix
    ./hm-stub.nix
    {
      _module.args.pkgs = pkgs;
      home.username = lib.mkDefault "alice";
      home.homeDirectory = lib.mkDefault "/home/alice";
    }
  ]
  (
    config: failedAssertions:
    let
      ok = failedAssertions == [ ];
    in
    {
      inherit failedAssertions;
      secrets = lib.mapAttrs (_: s: {
        inherit (s) name key path format mode;
        sopsFile = toString s.sopsFile;
      }) config.sops.secrets;
      templates = lib.mapAttrs (_: t: {
        inherit (t) name path mode content;
        file = toString t.file;
      }) config.sops.templates;
      inherit (config.sops) placeholder environment defaultSymlinkPath defaultSecretsMountPoint;
      services = config.systemd.user.services;
      sockets = config.systemd.user.sockets;
      agents = config.launchd.agents;
      activation = config.home.activation;
      sessionVariables = config.home.sessionVariables;
      # Where the scripts' coreutils are, for tests that run them with the real ones.
      coreutils = toString pkgs.coreutils;
      age = toString pkgs.age;
      manifest =
        if ok then
          {
            json = builtins.fromJSON (builtins.unsafeDiscardStringContext config.sops.build.manifest.text);
            path = toString config.sops.build.manifest;
            inherit (config.sops.build.manifest) checkPhase;
          }
        else
          null;
      script =
        if ok then
          {
            inherit (config.sops.build.script) text;
            path = toString config.sops.build.script;
          }
        else
          null;
    }
  )
