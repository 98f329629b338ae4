# Evaluates keytap's NixOS module through the real module system (`lib.evalModules`) with
# a stub of the NixOS options it touches, and summarises what a configuration produces:
# option values read back, failed assertions, warnings, units, activation scripts and the
# installer manifests. `pkgs` defaults to stand-ins (see stub-pkgs.nix).
{
  lib,
  pkgs ? import ./stub-pkgs.nix { inherit lib; },
}:

(import ./stub-lib.nix { inherit lib; }).harness
  [
    ../module.nix
    ./stub-nixos.nix
    {
      _module.args.pkgs = pkgs;
      systemd.package = lib.mkDefault pkgs.systemd;
    }
  ]
  (
    config: failedAssertions:
    let
      manifestOf = drv: {
        json = builtins.fromJSON (builtins.unsafeDiscardStringContext drv.text);
        inherit (drv) name checkPhase;
      };
      unitOf =
        name:
        let
          u = config.systemd.services.${name} or null;
        in
        if u == null then
          null
        else
          {
            inherit (u)
              wantedBy
              wants
              after
              before
              requiredBy
              environment
              unitConfig
              serviceConfig
              ;
            path = map toString u.path;
          };
      scriptOf =
        name:
        let
          s = config.system.activationScripts.${name} or null;
        in
        if s == null then null else { inherit (s) text deps; };
    in
    {
      inherit failedAssertions;
      inherit (config) warnings;
      secrets = lib.mapAttrs (_: s: {
        inherit (s)
          name
          key
          path
          format
          mode
          owner
          uid
          group
          gid
          restartUnits
          reloadUnits
          neededForUsers
          sopsFileHash
          ;
        sopsFile = toString s.sopsFile;
      }) config.sops.secrets;
      templates = lib.mapAttrs (_: t: {
        inherit (t)
          name
          path
          mode
          owner
          group
          content
          ;
      }) config.sops.templates;
      inherit (config.sops)
        placeholder
        useSystemdActivation
        askPassword
        keepGenerations
        ;
      gnupgSshKeyPaths = map toString config.sops.gnupg.sshKeyPaths;
      ageSshKeyPaths = map toString config.sops.age.sshKeyPaths;
      pcscd = config.services.pcscd.enable;
      units = {
        regular = unitOf "sops-install-secrets";
        forUsers = unitOf "sops-install-secrets-for-users";
      };
      activation = {
        setupSecrets = scriptOf "setupSecrets";
        setupSecretsForUsers = scriptOf "setupSecretsForUsers";
        generateAgeKey = scriptOf "generate-age-key";
        usersDeps = (scriptOf "users").deps;
      };
      manifest = if failedAssertions == [ ] then manifestOf config.system.build.sops-nix-manifest else null;
      usersManifest =
        if failedAssertions == [ ] then manifestOf config.system.build.sops-nix-users-manifest else null;
    }
  )
