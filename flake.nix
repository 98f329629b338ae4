{
  description = "keytap: sops-compatible secrets whose keys can live on hardware tokens, and a drop-in for sops-nix";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The workspace's binaries: keytap and its age plugins.
      packagesFor = pkgs: {
        keytap = pkgs.callPackage ./nix/package.nix { };
        age-plugin-passphrase = pkgs.callPackage ./nix/package.nix {
          pname = "age-plugin-passphrase";
          keytapNeeds.prompt = true;
        };
        # For `sops.age.plugins` (NixOS and home-manager): the module knows what each needs.
        age-plugin-yubikey = pkgs.callPackage ./nix/package.nix {
          pname = "age-plugin-yubikey";
          crate = "keytap-age-plugin-yubikey";
        };
        age-plugin-tpm = pkgs.callPackage ./nix/package.nix {
          pname = "age-plugin-tpm";
          crate = "keytap-age-plugin-tpm";
        };
        # A deliberately misbehaving plugin for tests (prompts, absent token, hangs...).
        age-plugin-testkit = pkgs.callPackage ./nix/package.nix { pname = "age-plugin-testkit"; };
      };
    in
    {
      # keytap and its own plugin by their names; every package (the YubiKey and TPM plugins
      # too) under `keytapPackages`, so nixpkgs' age-plugin-yubikey and age-plugin-tpm (other
      # implementations; nixpkgs' TPM plugin's identities differ) are not replaced.
      overlays.default = final: _prev: {
        inherit (packagesFor final) keytap age-plugin-passphrase;
        keytapPackages = packagesFor final;
      };

      packages = forAllSystems (
        pkgs:
        let
          all = packagesFor pkgs // {
            default = all.keytap;
          };
        in
        # The TPM plugin is Linux-only (tpm2-tss).
        if pkgs.stdenv.isLinux then all else removeAttrs all [ "age-plugin-tpm" ]
      );

      # `keytap.nixosModules.sops` replaces `sops-nix.nixosModules.sops`.
      nixosModules = {
        sops = ./nix/module.nix;
        default = self.nixosModules.sops;
      };

      # `keytap.homeManagerModules.sops` replaces `sops-nix.homeManagerModules.sops`.
      homeManagerModules = {
        sops = ./nix/home-manager.nix;
        default = self.homeManagerModules.sops;
      };
      # sops-nix's other names for it.
      homeManagerModule = self.homeManagerModules.sops;
      homeModules = self.homeManagerModules;

      checks = forAllSystems (
        pkgs:
        let
          packages = self.packages.${pkgs.stdenv.hostPlatform.system};
          # The module evaluated through the module system with a sops-nix user's
          # configuration (against a stub of the few NixOS options it touches).
          evaluated = import ./nix/tests/harness.nix { inherit lib; };
        in
        {
          inherit (packages) keytap age-plugin-passphrase;
          module-eval = pkgs.writeText "keytap-module-eval.json" (
            builtins.toJSON (evaluated.summary [ ./nix/tests/typical-config.nix ])
          );
        }
        // lib.optionalAttrs pkgs.stdenv.isLinux {
          nixos-vm = pkgs.callPackage ./nix/tests/vm.nix { nixosModule = self.nixosModules.sops; };
        }
      );

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
