# What keytap's NixOS and home-manager modules share, said once: what each age plugin needs,
# and the sops-nix options both declare with the same names, types and defaults.
{
  lib,
  pkgs,
  cfg,
}:

let
  inherit (lib) mkOption types;
in
rec {
  # What known plugins need. A plugin package can say so itself with
  # `passthru.keytapNeeds = { card = ...; tpm = ...; prompt = ...; }`.
  knownPluginNeeds = {
    age-plugin-yubikey = {
      card = true;
      prompt = true;
    };
    age-plugin-tpm = {
      tpm = true;
      prompt = true;
    };
    age-plugin-fido2-hmac.prompt = true;
    age-plugin-ledger.prompt = true;
    age-plugin-trezor.prompt = true;
    age-plugin-passphrase.prompt = true;
  };
  pluginNeeds =
    p:
    {
      card = false;
      tpm = false;
      prompt = false;
    }
    // (knownPluginNeeds.${lib.getName p} or { })
    // (p.passthru.keytapNeeds or (p.keytapNeeds or { }));
  # Whether any plugin in `sops.age.plugins` needs `what` ("card", "tpm" or "prompt").
  anyPluginNeeds = what: lib.any (p: (pluginNeeds p).${what}) cfg.age.plugins;

  pathNotInStore = lib.mkOptionType {
    name = "pathNotInStore";
    description = "path not in the Nix store";
    descriptionClass = "noun";
    check = x: !lib.path.hasStorePathPrefix (/. + x);
    merge = lib.mergeEqualOption;
  };

  # Options under `sops` that both modules declare alike.
  options = {
    placeholder = mkOption {
      type = types.attrsOf (
        lib.mkOptionType {
          name = "coercibleToString";
          description = "value that can be coerced to string";
          check = lib.strings.isConvertibleWithToString;
          merge = lib.mergeEqualOption;
        }
      );
      default = { };
      visible = false;
    };

    defaultSopsFile = mkOption {
      type = types.path;
      description = "Default sops file used for all secrets.";
    };

    defaultSopsFormat = mkOption {
      type = types.str;
      default = "yaml";
      description = "Default sops format used for all secrets.";
    };

    defaultSopsKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        Default key used to lookup in all secrets.
        This option is ignored if format is binary.
        "" means whole file.
      '';
    };

    validateSopsFiles = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Check all sops files at evaluation time.
        This requires sops files to be added to the nix store.
      '';
    };

    keepGenerations = mkOption {
      type = types.ints.unsigned;
      default = 1;
      description = "Number of secrets generations to keep. Setting this to 0 disables pruning.";
    };

    log = mkOption {
      type = types.listOf (
        types.enum [
          "keyImport"
          "secretChanges"
        ]
      );
      default = [
        "keyImport"
        "secretChanges"
      ];
      description = "What to log";
    };

    environment = mkOption {
      type = types.attrsOf (types.either types.str types.path);
      default = { };
      description = ''
        Environment variables to set before calling the installer.

        The values are placed in single quotes and not escaped any further to allow usage
        of command substitutions for more flexibility. To properly quote strings with
        quotes use lib.escapeShellArg.
      '';
    };

    package = mkOption {
      type = types.package;
      default = pkgs.keytap or (pkgs.callPackage ./package.nix { });
      defaultText = lib.literalExpression "pkgs.keytap or (pkgs.callPackage ./package.nix { })";
      description = "The keytap package whose `keytap install-secrets` installs the secrets.";
    };
  };

  # `sops.gnupg.package`: the GnuPG keytap runs for PGP keys (as `SOPS_GPG_EXEC`).
  gnupgPackageOption =
    description:
    mkOption {
      type = types.package;
      default = pkgs.gnupg;
      defaultText = lib.literalExpression "pkgs.gnupg";
      inherit description;
    };

  # Options under `sops.age` that both modules declare alike (`sshKeyPaths` differs).
  ageOptions = {
    keyFile = mkOption {
      type = types.nullOr pathNotInStore;
      default = null;
      example = "/var/lib/sops-nix/key.txt";
      description = ''
        Path to age key file used for sops decryption. It may hold plugin identities
        (`AGE-PLUGIN-...`) as well as `AGE-SECRET-KEY-...` lines.
      '';
    };

    plugins = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "age plugins to use for decryption: their `bin` is on the installer's PATH.";
    };

    identityOrder = mkOption {
      type = types.nullOr (
        types.enum [
          "plugins-first"
          "software-first"
        ]
      );
      default = null;
      description = ''
        Which identities keytap tries first: plugin (hardware) identities, or software
        ones (age keys, SSH keys). `null` keeps keytap's default (plugins first).
        Sets `KEYTAP_IDENTITY_ORDER` for the installer.
      '';
    };

    generateKey = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Whether or not to generate the age key. If this option is set to false, the key
        must already be present at the specified location.
      '';
    };
  };

  # A secret's options both modules give it alike: `name` is its attribute name,
  # `keyValueFormats` dotenv and ini in the order the module's sops-nix counterpart lists
  # them (its type error shows that order).
  secretOptions =
    { name, keyValueFormats }:
    {
      name = mkOption {
        type = types.str;
        default = name;
        description = "Name of the file used in the secrets directory.";
      };
      key = mkOption {
        type = types.str;
        default = if cfg.defaultSopsKey != null then cfg.defaultSopsKey else name;
        description = ''
          Key used to lookup in the sops file (`a/b/c` for nested keys).
          This option is ignored if format is binary, dotenv or ini.
          "" means whole file.
        '';
      };
      format = mkOption {
        type = types.enum (
          [
            "yaml"
            "json"
            "binary"
          ]
          ++ keyValueFormats
        );
        default = cfg.defaultSopsFormat;
        description = ''
          File format used to decrypt the sops secret.
          Binary files are written to the target file as is.
        '';
      };
      mode = mkOption {
        type = types.str;
        default = "0400";
        description = "Permissions mode of the secret file in octal.";
      };
    };

  # A template's options (`config` is the template's, `name` its attribute name): the
  # modules differ only in where it is rendered and how they describe it.
  templateOptions =
    {
      config,
      name,
      nameDescription,
      renderedDir,
      pathDescription,
    }:
    {
      name = mkOption {
        type = types.singleLineStr;
        default = name;
        description = nameDescription;
      };
      path = mkOption {
        type = types.singleLineStr;
        default = "${renderedDir}/${config.name}";
        description = pathDescription;
      };
      content = mkOption {
        type = types.lines;
        default = "";
        description = "Content of the file";
      };
      mode = mkOption {
        type = types.singleLineStr;
        default = "0400";
        description = "Permissions mode of the rendered secret file in octal.";
      };
      file = mkOption {
        type = types.path;
        default = pkgs.writeText config.name config.content;
        defaultText = lib.literalExpression "pkgs.writeText config.name config.content";
        example = "./configuration-template.conf";
        description = ''
          File used as the template. When this value is specified,
          `sops.templates.<name>.content` is ignored.
        '';
      };
    };

  # The installer's manifest (sops-nix's format): `secrets` and `templates` as attribute
  # sets, the module's own fields in `fields` (mount point, symlink path, user mode...),
  # checked at build time by `validator`'s `sops-install-secrets -check-mode`, as sops-nix
  # calls it (so that sops-nix's own installer package also serves as a validator).
  manifest =
    {
      name,
      secrets,
      templates,
      fields,
      validator,
    }:
    pkgs.writeTextFile {
      inherit name;
      text = builtins.toJSON (
        {
          secrets = builtins.attrValues secrets;
          templates = builtins.attrValues templates;
          keepGenerations = cfg.keepGenerations;
          gnupgHome = cfg.gnupg.home;
          sshKeyPaths = cfg.gnupg.sshKeyPaths;
          ageKeyFile = cfg.age.keyFile;
          ageSshKeyPaths = cfg.age.sshKeyPaths;
          placeholderBySecretName = cfg.placeholder;
          logging = {
            keyImport = builtins.elem "keyImport" cfg.log;
            secretChanges = builtins.elem "secretChanges" cfg.log;
          };
        }
        // fields
      );
      checkPhase = ''
        ${lib.getExe' validator "sops-install-secrets"} -check-mode=${
          if cfg.validateSopsFiles then "sopsfile" else "manifest"
        } "$out"
      '';
    };

  # `sops.secrets` and `sops.templates`, of the module's own submodule types.
  collectionOptions =
    { secretType, templateType }:
    {
      secrets = mkOption {
        type = types.attrsOf secretType;
        default = { };
        description = "Secrets to decrypt.";
      };

      templates = mkOption {
        type = types.attrsOf templateType;
        default = { };
        description = "Templates for secret files.";
      };
    };
}
