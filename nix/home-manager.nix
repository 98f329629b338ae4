# keytap's home-manager module: a drop-in for sops-nix's `homeManagerModules.sops`.
#
# Same option names, types, defaults and paths as sops-nix's home-manager module (so
# `config.sops.secrets.<name>.path` is `$XDG_CONFIG_HOME/sops-nix/secrets/<name>` as before),
# the same user-mode installer manifest, the same unit and agent names (`sops-nix.service`
# on Linux, the `sops-nix` launchd agent on macOS), restarted on activation as sops-nix does.
# The installer is `keytap install-secrets`, which opens every sops file's data key through
# one session per age plugin: one PIN for all of a user's secrets.
#
# keytap additions, for hardware keys at login (all opt-in or derived from
# `sops.age.plugins`):
#   - `sops.prompt.{askpass,pinentry,notify}`: where the login unit's PIN prompts and
#     "touch your YubiKey" messages go (a graphical pinentry by default when a plugin in
#     `sops.age.plugins` prompts).
#   - `sops.keyservice`: keytap's key service as a socket-activated user unit; the login
#     unit and the user's own `keytap`/`sops` commands go through it and share one PIN.
#   - `sops.age.identityOrder`, as in the NixOS module.
#
# GnuPG: `sops.gnupg.home`, `sops.gnupg.sshKeyPaths` (SSH RSA keys converted to OpenPGP
# keys, as ssh-to-pgp does) and Qubes split GPG work as in sops-nix (keytap runs GnuPG, or
# `SOPS_GPG_EXEC`, for PGP keys).
{
  config,
  lib,
  pkgs,
  ...
}:

let
  inherit (lib) mkOption types;

  cfg = config.sops;
  isLinux = pkgs.stdenv.hostPlatform.isLinux;

  common = import ./common.nix { inherit lib pkgs cfg; };
  needsPrompt = common.anyPluginNeeds "prompt";
  needsCard = common.anyPluginNeeds "card";

  secretType = types.submodule (
    { name, ... }:
    {
      options = common.secretOptions {
        inherit name;
        keyValueFormats = [
          "ini"
          "dotenv"
        ];
      }
      // {
        path = mkOption {
          type = types.str;
          default = "${cfg.defaultSymlinkPath}/${name}";
          description = ''
            Path where secrets are symlinked to. If the default is kept no other symlink is
            created. `%r` is replaced by $XDG_RUNTIME_DIR on linux or `getconf
            DARWIN_USER_TEMP_DIR` on darwin.
          '';
        };
        sopsFile = mkOption {
          type = types.path;
          default = cfg.defaultSopsFile;
          defaultText = lib.literalExpression "\${config.sops.defaultSopsFile}";
          description = "Sops file the secret is loaded from.";
        };
      };
    }
  );

  templateType = types.submodule (
    { config, name, ... }:
    {
      options = common.templateOptions {
        inherit config name;
        nameDescription = "Name of the rendered file.";
        # sops-nix's RenderedSubdir, under the XDG config home (not defaultSymlinkPath).
        renderedDir = "${hmConfig.xdg.configHome}/sops-nix/secrets/rendered";
        pathDescription = "Path where the rendered file will be placed.";
      };
    }
  );
  hmConfig = config;

  keytap = lib.getExe' cfg.package "keytap";
  # By sops-nix's name and flags (see the NixOS module).
  installer = lib.getExe' cfg.package "sops-install-secrets";

  manifest = common.manifest {
    name = "manifest.json";
    inherit (cfg) secrets templates;
    fields = {
      secretsMountPoint = cfg.defaultSecretsMountPoint;
      symlinkPath = cfg.defaultSymlinkPath;
      userMode = true;
    };
    validator = cfg.package;
  };

  # The key service's socket, under the user's runtime directory (systemd's %t).
  keyserviceSocket = "%t/keytap/keyservice.sock";
  keyserviceUri = "unix://\${XDG_RUNTIME_DIR}/keytap/keyservice.sock";

  escapedAgeKeyFile = lib.escapeShellArg cfg.age.keyFile;

  loginScript = (
    pkgs.writeShellScript "sops-nix-user" (
      lib.optionalString cfg.age.generateKey ''
        if [[ ! -f ${escapedAgeKeyFile} ]]; then
          echo generating machine-specific age key...
          ${pkgs.coreutils}/bin/mkdir -p "$(${pkgs.coreutils}/bin/dirname ${escapedAgeKeyFile})"
          ${pkgs.age}/bin/age-keygen -o ${escapedAgeKeyFile}
        fi
      ''
      + (
        if cfg.keyservice.enable then
          # The service holds the identities (and the PIN): the installer asks it only.
          ''
            exec ${installer} -ignore-passwd -enable-local-keyservice=false \
              -keyservice="${keyserviceUri}" ${manifest}
          ''
        else
          ''
            exec ${installer} -ignore-passwd ${manifest}
          ''
      )
    )
  );
  script = toString loginScript;

  # A `sops.prompt` program, unset unless `args` gives a default.
  promptProgramOption =
    args:
    mkOption (
      {
        type = types.nullOr (types.either types.str types.path);
        default = null;
      }
      // args
    );

  # keytap's prompt and notification settings for units without a terminal.
  promptEnvironment =
    lib.optionalAttrs (cfg.prompt.askpass != null) { KEYTAP_ASKPASS = toString cfg.prompt.askpass; }
    // lib.optionalAttrs (cfg.prompt.pinentry != null) {
      PINENTRY_PROGRAM = toString cfg.prompt.pinentry;
    }
    // lib.optionalAttrs (cfg.prompt.notify != null) { KEYTAP_NOTIFY = toString cfg.prompt.notify; }
    // lib.optionalAttrs (cfg.age.identityOrder != null) {
      KEYTAP_IDENTITY_ORDER = cfg.age.identityOrder;
    };

  # systemd's `Environment=` with sops-nix's quoting: each assignment in single quotes.
  unitEnvironment =
    env: builtins.concatStringsSep " " (lib.mapAttrsToList (name: value: "'${name}=${value}'") env);

  # The installer's PATH, as sops-nix sets it: the plugins (and macOS's system tools).
  installerPath = lib.concatStringsSep ":" (
    lib.filter (p: p != "") [
      (lib.makeBinPath cfg.age.plugins)
      (lib.optionalString pkgs.stdenv.isDarwin "/usr/bin:/bin:/usr/sbin:/sbin")
    ]
  );

  # The key service's identities: the same sources as the installer's manifest.
  keyserviceEnvironment =
    promptEnvironment
    // cfg.environment
    // {
      PATH = installerPath;
    }
    // lib.optionalAttrs (cfg.age.keyFile != null) { SOPS_AGE_KEY_FILE = cfg.age.keyFile; }
    // lib.optionalAttrs (cfg.age.sshKeyPaths != [ ]) {
      SOPS_AGE_SSH_PRIVATE_KEY_FILE = toString (builtins.head cfg.age.sshKeyPaths);
    };
in
{
  options.sops =
    common.options
    // common.collectionOptions { inherit secretType templateType; }
    // {
    build = mkOption {
      internal = true;
      readOnly = true;
      type = types.attrsOf types.package;
      default = {
        inherit manifest;
        script = loginScript;
      };
      description = "The installer's manifest and the login unit's script (for tests and tools).";
    };

    defaultSymlinkPath = mkOption {
      type = types.str;
      default = "${config.xdg.configHome}/sops-nix/secrets";
      defaultText = lib.literalExpression "\"\${config.xdg.configHome}/sops-nix/secrets\"";
      description = "Default place where the latest generation of decrypted secrets can be found.";
    };

    defaultSecretsMountPoint = mkOption {
      type = types.str;
      default = "%r/secrets.d";
      description = "Default place where generations of decrypted secrets are stored.";
    };

    prompt = {
      askpass = promptProgramOption {
        example = lib.literalExpression "\"\${pkgs.openssh-askpass}/libexec/gtk-ssh-askpass\"";
        description = ''
          An askpass program (`KEYTAP_ASKPASS`: called with the prompt, prints the answer)
          for PINs and passphrases the login unit needs. Tried before the pinentry.
        '';
      };

      pinentry = promptProgramOption {
        default =
          if needsPrompt && pkgs.stdenv.isLinux then "${pkgs.pinentry-gnome3}/bin/pinentry-gnome3" else null;
        defaultText = lib.literalMD "`pinentry-gnome3` on Linux when a plugin in {option}`sops.age.plugins` asks for a PIN or passphrase";
        description = ''
          A pinentry program (`PINENTRY_PROGRAM`) for PINs and passphrases the login unit
          needs: the unit has no terminal, so a graphical one reaches the person at the
          keyboard. keytap asks once per plugin for all secrets.
        '';
      };

      notify = promptProgramOption {
        default = if needsCard && pkgs.stdenv.isLinux then "${pkgs.libnotify}/bin/notify-send" else null;
        defaultText = lib.literalMD "`notify-send` on Linux when a plugin in {option}`sops.age.plugins` uses a smart card";
        description = ''
          A notify-send-like program (`KEYTAP_NOTIFY`, run as `PROGRAM keytap MESSAGE`)
          that shows plugin messages such as "touch your YubiKey" on the desktop.
        '';
      };
    };

    keyservice = {
      enable = lib.mkEnableOption ''
        keytap's key service as a socket-activated user unit (Linux). The login unit and
        your own `keytap` and `sops` commands (`SOPS_KEYSERVICE` is set in the session)
        unwrap data keys through it, so the PIN the login unit asked for is kept for them'';

      cacheTtl = mkOption {
        type = types.ints.unsigned;
        default = 600;
        description = "Seconds a cached PIN or passphrase is kept unused (0: never kept).";
      };

      onlyService = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Also set `SOPS_ENABLE_LOCAL_KEYSERVICE=false` in the session, so your `keytap` and
          `sops` commands unwrap through the service only (one PIN) instead of opening the
          token themselves first.
        '';
      };

      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--prompt" ];
        description = "More `keytap keyservice` flags.";
      };
    };

    age = common.ageOptions // {
      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "Paths to ssh keys added as age keys during sops decryption.";
      };
    };

    gnupg = {
      package = common.gnupgPackageOption "The gnupg package to use for sops operations.";

      home = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home/someuser/.gnupg";
        description = "Path to gnupg database directory containing the key for decrypting the sops file.";
      };

      qubes-split-gpg = {
        enable = lib.mkEnableOption "Enable support for Qubes Split GPG feature: https://www.qubes-os.org/doc/split-gpg";

        domain = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "vault-gpg";
          description = "It tells Qubes OS which secure Qube holds your GPG keys.";
        };
      };

      sshKeyPaths = mkOption {
        type = types.listOf types.path;
        default = [ ];
        description = "Paths to SSH RSA private keys added as GPG keys during sops decryption (converted as ssh-to-pgp does).";
      };
    };
  };

  config = lib.mkMerge [
    (lib.mkIf (cfg.templates != { }) {
      sops.placeholder = lib.mapAttrs (
        name: _: lib.mkDefault "<SOPS:${builtins.hashString "sha256" name}:PLACEHOLDER>"
      ) cfg.secrets;
    })

    (lib.mkIf (cfg.secrets != { }) {
      assertions = [
        {
          assertion =
            cfg.keyservice.enable
            || cfg.gnupg.home != null
            || cfg.gnupg.sshKeyPaths != [ ]
            || cfg.gnupg.qubes-split-gpg.enable
            || cfg.age.keyFile != null
            || cfg.age.sshKeyPaths != [ ];
          # sops-nix's message (a key service also counts as a key source here).
          message = "No key source configured for sops. Either set services.openssh.enable or set sops.age.keyFile or sops.gnupg.home or sops.gnupg.qubes-split-gpg.enable";
        }
        {
          assertion =
            !(cfg.gnupg.home != null && cfg.gnupg.sshKeyPaths != [ ])
            && !(cfg.gnupg.home != null && cfg.gnupg.qubes-split-gpg.enable)
            && !(cfg.gnupg.sshKeyPaths != [ ] && cfg.gnupg.qubes-split-gpg.enable);
          message = "Exactly one of sops.gnupg.home, sops.gnupg.qubes-split-gpg.enable and sops.gnupg.sshKeyPaths must be set";
        }
        {
          assertion =
            !cfg.gnupg.qubes-split-gpg.enable
            || (cfg.gnupg.qubes-split-gpg.domain != null && cfg.gnupg.qubes-split-gpg.domain != "");
          message = "sops.gnupg.qubes-split-gpg.domain is required when sops.gnupg.qubes-split-gpg.enable is set to true";
        }
        {
          assertion = !cfg.keyservice.enable || isLinux;
          message = "sops.keyservice.enable needs systemd user units (Linux); on macOS run `keytap keyservice` yourself and set sops.environment.SOPS_KEYSERVICE";
        }
      ];

      sops.environment = {
        PATH = installerPath;
        # As sops-nix: the GnuPG keytap runs for PGP keys (or Qubes's split-GPG client).
        SOPS_GPG_EXEC = lib.mkMerge [
          (lib.mkIf (cfg.gnupg.home != null || cfg.gnupg.sshKeyPaths != [ ]) (
            lib.mkDefault "${cfg.gnupg.package}/bin/gpg"
          ))
          (lib.mkIf cfg.gnupg.qubes-split-gpg.enable (lib.mkDefault config.home.sessionVariables.SOPS_GPG_EXEC))
        ];
        QUBES_GPG_DOMAIN = lib.mkIf cfg.gnupg.qubes-split-gpg.enable (
          lib.mkDefault cfg.gnupg.qubes-split-gpg.domain
        );
      } // lib.mapAttrs (_: lib.mkDefault) promptEnvironment;

      home.sessionVariables = lib.mkIf cfg.gnupg.qubes-split-gpg.enable {
        SOPS_GPG_EXEC = "qubes-gpg-client-wrapper";
      };

      systemd.user.services.sops-nix = lib.mkIf isLinux {
        Unit =
          {
            Description = "sops-nix activation";
          }
          // lib.optionalAttrs cfg.keyservice.enable {
            Requires = [ "keytap-keyservice.socket" ];
            After = [ "keytap-keyservice.socket" ];
          };
        Service = {
          Type = "oneshot";
          Environment = unitEnvironment cfg.environment;
          ExecStart = script;
        };
        # sops-nix's: a GnuPG home's agent and pinentry come with the graphical session.
        Install.WantedBy =
          if cfg.gnupg.home != null then [ "graphical-session-pre.target" ] else [ "default.target" ];
      };

      # Darwin: load secrets once on login.
      launchd.agents.sops-nix = {
        enable = true;
        config = {
          Program = script;
          EnvironmentVariables = cfg.environment;
          KeepAlive = false;
          RunAtLoad = true;
          StandardOutPath = "${config.home.homeDirectory}/Library/Logs/SopsNix/stdout";
          StandardErrorPath = "${config.home.homeDirectory}/Library/Logs/SopsNix/stderr";
        };
      };

      # [Re]load secrets on home-manager activation, as sops-nix does.
      home.activation.sops-nix =
        if isLinux then
          let
            systemctl = config.systemd.user.systemctlPath;
          in
          ''
            systemdStatus=$(${systemctl} --user is-system-running 2>&1 || true)

            if [[ $systemdStatus == 'running' || $systemdStatus == 'degraded' ]]; then
              ${systemctl} restart --user sops-nix
            else
              echo "User systemd daemon not running. Probably executed on boot where no manual start/reload is needed."
            fi

            unset systemdStatus
          ''
        else
          let
            domain-target = "gui/$(id -u ${config.home.username})";
          in
          ''
            /bin/launchctl bootout ${domain-target}/org.nix-community.home.sops-nix && true
            /bin/launchctl bootstrap ${domain-target} ${config.home.homeDirectory}/Library/LaunchAgents/org.nix-community.home.sops-nix.plist
          '';
    })

    (lib.mkIf (cfg.keyservice.enable && isLinux) {
      systemd.user.sockets.keytap-keyservice = {
        Unit.Description = "keytap key service socket";
        Socket = {
          ListenStream = keyserviceSocket;
          SocketMode = "0600";
          DirectoryMode = "0700";
        };
        Install.WantedBy = [ "sockets.target" ];
      };
      systemd.user.services.keytap-keyservice = {
        Unit = {
          Description = "keytap key service (sops-compatible; holds PINs for a while)";
          Requires = [ "keytap-keyservice.socket" ];
        };
        Service = {
          Environment = unitEnvironment keyserviceEnvironment;
          ExecStart = lib.escapeShellArgs (
            [
              keytap
              "keyservice"
              "--network"
              "unix"
              "--address"
              keyserviceSocket
              "--cache-ttl"
              (toString cfg.keyservice.cacheTtl)
            ]
            ++ cfg.keyservice.extraArgs
          );
        };
      };
      home.sessionVariables = {
        SOPS_KEYSERVICE = keyserviceUri;
      }
      // lib.optionalAttrs cfg.keyservice.onlyService { SOPS_ENABLE_LOCAL_KEYSERVICE = "false"; };
    })
  ];
}
