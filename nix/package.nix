# Builds one binary of the keytap workspace with rustPlatform: keytap itself (default) or
# an age plugin, e.g. `callPackage ./package.nix { pname = "age-plugin-passphrase"; }`.
{
  lib,
  rustPlatform,
  runtimeShell,
  pname ? "keytap",
  # What the plugin needs at boot (read by the NixOS module): { card, tpm, prompt }.
  keytapNeeds ? null,
}:

let
  workspace = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  inherit pname;
  inherit (workspace.workspace.package) version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../core
      ../cli
      ../plugins
      ../tests
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "--package"
    pname
  ];

  # The workspace's tests run against the real sops, as root, with ramfs mounts: CI runs
  # them, the build sandbox cannot.
  doCheck = false;

  # `sops-install-secrets` for tools that call sops-nix's installer by name, accepting its
  # single-dash flags.
  postInstall = lib.optionalString (pname == "keytap") ''
    cat > $out/bin/sops-install-secrets <<EOF
    #!${runtimeShell}
    args=()
    for arg in "\$@"; do
      case "\$arg" in
        -check-mode=*|-ignore-passwd) args+=("-\$arg") ;;
        *) args+=("\$arg") ;;
      esac
    done
    exec $out/bin/keytap install-secrets "\''${args[@]}"
    EOF
    chmod +x $out/bin/sops-install-secrets
  '';

  passthru = lib.optionalAttrs (keytapNeeds != null) { inherit keytapNeeds; };

  meta = {
    description =
      if pname == "keytap" then
        "sops-compatible secrets whose keys can live on hardware tokens, with a sops-nix drop-in installer"
      else
        "age plugin from the keytap workspace";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = pname;
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}
