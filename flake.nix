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
        # A deliberately misbehaving plugin for tests (prompts, absent token, hangs...).
        age-plugin-testkit = pkgs.callPackage ./nix/package.nix { pname = "age-plugin-testkit"; };
      };
    in
    {
      overlays.default = final: _prev: packagesFor final;

      packages = forAllSystems (pkgs: packagesFor pkgs // { default = (packagesFor pkgs).keytap; });

      # `keytap.nixosModules.sops` replaces `sops-nix.nixosModules.sops`.
      nixosModules = {
        sops = ./nix/module.nix;
        default = self.nixosModules.sops;
      };

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
