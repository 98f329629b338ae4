# keytap's NixOS module: a drop-in for sops-nix's `sops.*` options.
#
# Same option names, types, defaults and meanings as sops-nix, the same installer manifest
# (so `config.sops.secrets.<name>.path` and friends read back the same values), installed
# by `keytap install-secrets`, which decrypts each sops file once and unwraps every data key
# through one session per age plugin (one PIN prompt per boot).
#
# keytap additions, all opt-in or derived from `sops.age.plugins`:
#   - `sops.age.identityOrder`: try plugin (hardware) identities before or after software
#     ones.
#   - `sops.askPassword`: ask PINs and passphrases through systemd-ask-password (on by
#     default when a plugin in `sops.age.plugins` prompts).
#   - when a plugin needs a smart card, a TPM or a prompt, the installer runs as a systemd
#     unit (`useSystemdActivation` defaults to true) ordered after pcscd.socket / tpm2.target,
#     and pcscd is enabled for smart-card plugins.
#
# GnuPG: `sops.gnupg.home` works as in sops-nix (PGP keys are decrypted by GnuPG, which
# keytap runs as sops does), and so does `sops.gnupg.sshKeyPaths`: the installer converts
# the SSH RSA keys to OpenPGP keys (with ssh-to-pgp's fingerprints) in a GnuPG home of its
# own, imported only when a sops file has a PGP key.
{
  config,
  options,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib)
    mkOption
    mkIf
    mkMerge
    mkDefault
    types
    ;

  cfg = config.sops;
  users = config.users.users;

  # --- age plugins and what they need at boot -------------------------------------------

  common = import ./common.nix { inherit lib pkgs cfg; };
  inherit (common) anyPluginNeeds pathNotInStore;
  needsCard = anyPluginNeeds "card";
  needsTpm = anyPluginNeeds "tpm";
  needsPrompt = anyPluginNeeds "prompt";
  needsBootHardware = needsCard || needsTpm || needsPrompt;

  sysusersEnabled = options.systemd ? sysusers && config.systemd.sysusers.enable;
  userbornEnabled = options.services ? userborn && config.services.userborn.enable;

  # --- option types -----------------------------------------------------------------------

  # Who owns an installed file (a secret or a rendered template; `config` is its own).
  ownershipOptions =
    {
      config,
      nameType,
      groupDefaultText,
      uidDescription,
      gidDescription,
    }:
    {
      owner = mkOption {
        type = types.nullOr nameType;
        default = null;
        description = "User of the file. Can only be set if uid is 0.";
      };
      uid = idOption uidDescription;
      group = mkOption {
        type = types.nullOr nameType;
        default = if config.owner != null then users.${config.owner}.group else null;
        defaultText = groupDefaultText;
        description = "Group of the file. Can only be set if gid is 0.";
      };
      gid = idOption gidDescription;
    };
  idOption =
    description:
    mkOption {
      type = types.nullOr types.int;
      default = 0;
      inherit description;
    };

  # The units to restart or reload when `what` changes.
  unitsToNotifyOptions = what: {
    restartUnits = unitsToNotify "restarted" what;
    reloadUnits = unitsToNotify "reloaded" what;
  };
  unitsToNotify =
    action: what:
    mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "sshd.service" ];
      description = "Names of units that should be ${action} when ${what} changes.";
    };

  secretType = types.submodule (
    { config, name, ... }:
    {
      config = {
        sopsFile = lib.mkOptionDefault cfg.defaultSopsFile;
        sopsFileHash = lib.mkOptionDefault (
          lib.optionalString cfg.validateSopsFiles "${builtins.hashFile "sha256" config.sopsFile}"
        );
      };
      options = common.secretOptions {
        inherit name;
        keyValueFormats = [
          "dotenv"
          "ini"
        ];
      }
      // ownershipOptions {
        inherit config;
        nameType = types.str;
        groupDefaultText = lib.literalMD "{option}`config.users.users.\${owner}.group`";
        uidDescription = ''
          UID of the file, only applied when owner is null. The UID will be applied even if
          the corresponding user doesn't exist.
        '';
        gidDescription = ''
          GID of the file, only applied when group is null. The GID will be applied even if
          the corresponding group doesn't exist.
        '';
      }
      // unitsToNotifyOptions "this secret"
      // {
        path = mkOption {
          type = types.str;
          default =
            if config.neededForUsers then
              "/run/secrets-for-users/${config.name}"
            else
              "/run/secrets/${config.name}";
          defaultText = "/run/secrets-for-users/$name when neededForUsers is set, /run/secrets/$name when otherwise.";
          description = ''
            Path where secrets are symlinked to.
            If the default is kept no symlink is created.
          '';
        };
        sopsFile = mkOption {
          type = types.path;
          defaultText = lib.literalExpression "\${config.sops.defaultSopsFile}";
          description = "Sops file the secret is loaded from.";
        };
        sopsFileHash = mkOption {
          type = types.str;
          readOnly = true;
          description = ''
            Hash of the sops file, useful in
            {option}`systemd.services.<name>.restartTriggers`.
          '';
        };
        neededForUsers = mkOption {
          type = types.bool;
          default = false;
          description = ''
            Decrypt this secret before users and groups are created, into
            /run/secrets-for-users (e.g. for `users.users.<name>.hashedPasswordFile`).
            Such secrets must be owned by root.
          '';
        };
      };
    }
  );

  templateType = types.submodule (
    { config, name, ... }:
    {
      options =
        common.templateOptions {
          inherit config name;
          nameDescription = "Name of the file used in /run/secrets/rendered";
          renderedDir = "/run/secrets/rendered";
          pathDescription = "Path where the rendered file will be placed";
        }
        // ownershipOptions {
          inherit config;
          nameType = types.singleLineStr;
          groupDefaultText = lib.literalExpression "config.users.users.\${cfg.owner}.group";
          uidDescription = "UID of the template, only applied when owner is null.";
          gidDescription = "GID of the template, only applied when group is null.";
        }
        // unitsToNotifyOptions "the rendered template";
    }
  );

  # --- the manifests ----------------------------------------------------------------------

  regularSecrets = lib.filterAttrs (_: v: !v.neededForUsers) cfg.secrets;
  secretsForUsers = lib.filterAttrs (_: v: v.neededForUsers) cfg.secrets;

  manifestFor =
    suffix: secrets: templates: extra:
    let
      problems = lib.concatMap (
        secret:
        lib.optional (!builtins.pathExists secret.sopsFile)
          "Cannot find path '${secret.sopsFile}' set in sops.secrets.${lib.strings.escapeNixIdentifier secret.name}.sopsFile\n"
        ++
          lib.optional
            (
              !builtins.isPath secret.sopsFile
              && !(builtins.isString secret.sopsFile && lib.hasPrefix builtins.storeDir secret.sopsFile)
            )
            "'${secret.sopsFile}' is not in the Nix store. Either add it to the Nix store or set sops.validateSopsFiles to false"
      ) (builtins.attrValues secrets);
    in
    if cfg.validateSopsFiles && problems != [ ] then
      throw "\nFailed assertions:\n${lib.concatStringsSep "\n" (map (x: "- ${x}") problems)}"
    else
      common.manifest {
        name = "manifest${suffix}.json";
        inherit secrets templates;
        fields = {
          secretsMountPoint = "/run/secrets.d";
          symlinkPath = "/run/secrets";
          useTmpfs = cfg.useTmpfs;
          userMode = false;
        }
        // extra;
        validator = cfg.validationPackage;
      };

  manifest = manifestFor "" regularSecrets cfg.templates { };
  manifestForUsers = manifestFor "-for-users" secretsForUsers { } {
    secretsMountPoint = "/run/secrets-for-users.d";
    symlinkPath = "/run/secrets-for-users";
  };

  # --- how the installer runs -------------------------------------------------------------

  # By sops-nix's name and flags: keytap's package links it to keytap, and sops-nix's own
  # installer package still works as `sops.package`.
  installer = lib.getExe' cfg.package "sops-install-secrets";

  askPasswordProgram = pkgs.writeShellScript "keytap-askpass" ''
    exec ${lib.getExe' config.systemd.package "systemd-ask-password"} --id=keytap:install-secrets -- "$1"
  '';

  # keytap's own settings, under the user's `sops.environment` (which wins).
  keytapEnvironment =
    lib.optionalAttrs (cfg.age.identityOrder != null) {
      KEYTAP_IDENTITY_ORDER = cfg.age.identityOrder;
    }
    // lib.optionalAttrs cfg.askPassword { KEYTAP_ASKPASS = "${askPasswordProgram}"; };

  # Activation scripts: variables exported in a subshell, values in single quotes and not
  # escaped any further (sops-nix's documented behaviour for `sops.environment`).
  withEnvironment =
    command:
    let
      env =
        keytapEnvironment
        // cfg.environment
        // {
          HOME = "/var/empty";
          PATH = lib.makeBinPath cfg.age.plugins;
        };
    in
    ''
      (
      ${lib.concatStringsSep "\n" (lib.mapAttrsToList (n: v: "  export ${n}='${v}'") env)}
        ${command}
      )
    '';

  unitEnvironment = keytapEnvironment // cfg.environment // { SOPS_RESTART_UNITS_VIA_SYSTEMCTL = "1"; };

  requiresMountsFor = lib.concatLists [
    (lib.optional (cfg.gnupg.home != null) cfg.gnupg.home)
    cfg.gnupg.sshKeyPaths
    (lib.optional (cfg.age.keyFile != null) cfg.age.keyFile)
    cfg.age.sshKeyPaths
  ];

  # The installer run with `args` (its flags and manifest) by a unit.
  installerService = args: {
    environment = unitEnvironment;
    path = cfg.age.plugins;
    unitConfig = {
      DefaultDependencies = "no";
      RequiresMountsFor = requiresMountsFor;
    };
    serviceConfig = {
      Type = "oneshot";
      ExecStart = [ "${installer} ${args}" ];
      RemainAfterExit = true;
    };
  };

  # The installer run with `args` by an activation script, after `deps` and the key's
  # generation.
  installerScript =
    deps: message: args:
    lib.stringAfter (deps ++ lib.optional cfg.age.generateKey "generate-age-key") ''
      [ -e /run/current-system ] || echo ${message}
      ${withEnvironment "${installer} ${args}"}
    ''
    // lib.optionalAttrs (config.system ? dryActivationScript) { supportsDryActivation = true; };

  hardwareUnits = lib.optional needsCard "pcscd.socket" ++ lib.optional needsTpm "tpm2.target";

  # Skip ssh keys deployed with sops to avoid a catch 22.
  defaultImportKeys =
    algo:
    if config.services.openssh.enable then
      map (e: e.path) (
        lib.filter (e: e.type == algo && !(lib.hasPrefix "/run/secrets" e.path)) config.services.openssh.hostKeys
      )
    else
      [ ];
in
{
  imports = [
    (lib.mkRenamedOptionModule
      [
        "sops"
        "gnupgHome"
      ]
      [
        "sops"
        "gnupg"
        "home"
      ]
    )
    (lib.mkRenamedOptionModule
      [
        "sops"
        "sshKeyPaths"
      ]
      [
        "sops"
        "gnupg"
        "sshKeyPaths"
      ]
    )
  ];

  options.sops =
    common.options
    // common.collectionOptions { inherit secretType templateType; }
    // {
    validationPackage = mkOption {
      type = types.package;
      default =
        if pkgs.stdenv.buildPlatform == pkgs.stdenv.hostPlatform then
          cfg.package
        else
          pkgs.pkgsBuildHost.keytap or (pkgs.pkgsBuildHost.callPackage ./package.nix { });
      defaultText = lib.literalExpression "config.sops.package";
      description = ''
        keytap package used to validate the manifest at build time.
        Defaults to sops.package when building natively, and a native keytap when cross
        compiling.
      '';
    };

    useTmpfs = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Use tmpfs in place of ramfs for secrets storage.

        *WARNING*: on Linux kernels earlier than 6.4 a tmpfs can be swapped out, writing
        secrets to disk unencrypted. Do not use unless absolutely necessary.
      '';
    };

    useSystemdActivation = mkOption {
      type = types.bool;
      default = sysusersEnabled || userbornEnabled || needsBootHardware;
      defaultText = lib.literalExpression (
        "(options.systemd ? sysusers && config.systemd.sysusers.enable) "
        + "|| (options.services ? userborn && config.services.userborn.enable) "
        + "|| a plugin in sops.age.plugins needs a smart card, a TPM or a prompt"
      );
      description = ''
        Use a systemd unit to install secrets, instead of deploying them using an
        activation script.

        Enabled automatically when systemd-sysusers or userborn manage users, and when a
        plugin in `sops.age.plugins` needs a smart card (the unit runs after pcscd.socket),
        a TPM (after tpm2.target) or a prompt (systemd-ask-password), none of which an
        activation script has.
      '';
    };

    askPassword = mkOption {
      type = types.bool;
      default = needsPrompt;
      defaultText = lib.literalMD "true when a plugin in {option}`sops.age.plugins` asks for a PIN or passphrase";
      description = ''
        Answer the PIN and passphrase requests of age plugins with systemd-ask-password
        (the boot console, Plymouth, or `systemd-tty-ask-password-agent`), so a
        PIN-protected key works at boot without a terminal. keytap asks once per boot per
        plugin, however many secrets there are.
      '';
    };

    age = common.ageOptions // {
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = defaultImportKeys "ed25519";
        defaultText = lib.literalMD "The ed25519 keys from {option}`config.services.openssh.hostKeys`";
        description = "Paths to ssh keys added as age keys during sops decryption.";
      };
    };

    gnupg = {
      home = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/root/.gnupg";
        description = ''
          Path to gnupg database directory containing the key for decrypting the sops file.
        '';
      };

      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = defaultImportKeys "rsa";
        defaultText = lib.literalMD "The rsa keys from {option}`config.services.openssh.hostKeys`";
        description = ''
          Paths to SSH RSA private keys added as GPG keys during sops decryption (converted as
          ssh-to-pgp does). Must be set to `[ ]` when `sops.gnupg.home` is set.
        '';
      };

      package = common.gnupgPackageOption "The gnupg package to use for sops operations.";
    };
  };

  config = mkMerge [
    (mkIf (cfg.secrets != { }) {
      assertions = [
        {
          assertion = !(cfg.gnupg.home != null && cfg.gnupg.sshKeyPaths != [ ]);
          message = "Exactly one of sops.gnupg.home and sops.gnupg.sshKeyPaths must be set";
        }
        {
          # sops-nix's check and message (the default key sources are the host keys).
          assertion =
            cfg.gnupg.home != null
            || cfg.gnupg.sshKeyPaths != [ ]
            || cfg.age.keyFile != null
            || cfg.age.sshKeyPaths != [ ];
          message = "No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home";
        }
      ]
      ++ lib.optionals cfg.validateSopsFiles (
        lib.concatLists (
          lib.mapAttrsToList (_: secret: [
            {
              assertion = secret.uid != null && secret.uid != 0 -> secret.owner == null;
              message = "In ${secret.name} exactly one of sops.owner and sops.uid must be set";
            }
            {
              assertion = secret.gid != null && secret.gid != 0 -> secret.group == null;
              message = "In ${secret.name} exactly one of sops.group and sops.gid must be set";
            }
          ]) cfg.secrets
        )
      )
      ++ [
        {
          assertion =
            (lib.filterAttrs (
              _: v: (v.uid != 0 && v.owner != "root") || (v.gid != 0 && v.group != "root")
            ) secretsForUsers) == { };
          message = "neededForUsers cannot be used for secrets that are not root-owned";
        }
        {
          assertion = secretsForUsers != { } && sysusersEnabled -> config.users.mutableUsers;
          message = ''
            systemd.sysusers.enable in combination with sops.secrets.<name>.neededForUsers can only work with config.users.mutableUsers enabled.
            See https://github.com/Mic92/sops-nix/issues/475
          '';
        }
      ];

      # As sops-nix: the installer's GnuPG (keytap runs it for PGP keys).
      sops.environment.SOPS_GPG_EXEC = lib.mkIf (cfg.gnupg.home != null || cfg.gnupg.sshKeyPaths != [ ]) (
        lib.mkDefault "${cfg.gnupg.package}/bin/gpg"
      );

      # Users' secrets are installed before users exist: by an activation script, or with
      # systemd-sysusers/userborn by a unit ordered before them, early in sysinit; pcscd
      # (sockets.target) and tpm2.target come later either way, and ordering the unit
      # after them would be a cycle.
      warnings =
        lib.optional (secretsForUsers != { } && (needsCard || needsTpm))
          ''
            sops: secrets with neededForUsers are installed ${
              if sysusersEnabled || userbornEnabled then
                "by sops-install-secrets-for-users.service, before ${
                  if sysusersEnabled then "systemd-sysusers" else "userborn"
                }"
              else
                "by an activation script"
            }, before
            pcscd and the TPM are available, so a smart-card or TPM plugin cannot open them.
            Encrypt those secrets to a software key as well (sops.age.keyFile or an SSH host key).
          '';

      services.pcscd.enable = mkIf needsCard (mkDefault true);

      systemd.services.sops-install-secrets = mkIf (regularSecrets != { } && cfg.useSystemdActivation) (
        {
          wantedBy = [ "sysinit.target" ];
          after = [
            "local-fs.target"
            "systemd-sysusers.service"
            "userborn.service"
          ]
          ++ hardwareUnits;
          wants = hardwareUnits;
          requiredBy = [ "sysinit-reactivation.target" ];
          # With a token or a prompt the unit starts later than sops-nix's (after pcscd's
          # socket), so make sure ordinary services still find their secrets.
          before = [ "sysinit-reactivation.target" ] ++ lib.optional needsBootHardware "basic.target";
        }
        // installerService "${manifest}"
      );

      systemd.services.sops-install-secrets-for-users =
        mkIf (secretsForUsers != { } && (sysusersEnabled || userbornEnabled))
          (
            {
              wantedBy = [ "systemd-sysusers.service" ];
              before = [ "systemd-sysusers.service" ];
            }
            // installerService "-ignore-passwd ${manifestForUsers}"
          );

      system.activationScripts = mkMerge [
        {
          setupSecrets = mkIf (regularSecrets != { } && !cfg.useSystemdActivation) (
            installerScript [
              "specialfs"
              "users"
              "groups"
            ] "setting up secrets..." "${manifest}"
          );

          generate-age-key =
            let
              escapedKeyFile = lib.escapeShellArg cfg.age.keyFile;
            in
            mkIf cfg.age.generateKey (
              lib.stringAfter [ ] ''
                if [[ ! -f ${escapedKeyFile} ]]; then
                  echo generating machine-specific age key...
                  mkdir -p "$(dirname ${escapedKeyFile})"
                  # age-keygen sets 0600 by default, no need to chmod.
                  ${pkgs.age}/bin/age-keygen -o ${escapedKeyFile}
                fi
              ''
            );
        }
        (mkIf (secretsForUsers != { } && !(sysusersEnabled || userbornEnabled)) {
          setupSecretsForUsers =
            installerScript [ "specialfs" ] "setting up secrets for users..."
              "-ignore-passwd ${manifestForUsers}";

          users.deps = [ "setupSecretsForUsers" ];
        })
      ];
    })

    (mkIf (cfg.templates != { }) {
      sops.placeholder = lib.mapAttrs (
        name: _: mkDefault "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>"
      ) cfg.secrets;

      assertions =
        lib.mapAttrsToList (name: t: {
          assertion = !(t.owner != null && t.uid != 0);
          message = ''
            Assertion failed for `sops.templates.${name}`:
            Both `owner` and `uid` cannot be defined at the same time. Use either `owner` or leave `uid` as 0.
            owner: ${t.owner}
            uid: ${toString t.uid}
          '';
        }) cfg.templates
        # sops-nix's message, labels included.
        ++ lib.mapAttrsToList (name: t: {
          assertion = !(t.group != null && t.gid != 0);
          message = ''
            Assertion failed for `sops.templates.${name}`:
            Both `group` and `gid` cannot be defined at the same time. Use either `group` or leave `gid` as 0.
            owner: ${t.group}
            uid: ${toString t.gid}
          '';
        }) cfg.templates;
    })

    {
      system.build.sops-nix-manifest = manifest;
      system.build.sops-nix-users-manifest = manifestForUsers;
    }
  ];
}
