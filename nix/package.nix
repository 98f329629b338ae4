# Builds one binary of the keytap workspace with rustPlatform: keytap itself (default) or
# an age plugin, e.g. `callPackage ./package.nix { pname = "age-plugin-passphrase"; }`.
# The YubiKey plugin links pcsclite (Linux; macOS has PC/SC built in), the TPM plugin
# tpm2-tss (Linux only).
{
  lib,
  stdenv ? { hostPlatform.isLinux = true; },
  rustPlatform,
  pkg-config ? null,
  pcsclite ? null,
  tpm2-tss ? null,
  pname ? "keytap",
  # The workspace crate that builds `pname`, when its name differs.
  crate ? pname,
  # What the plugin needs at boot (read by the NixOS and home-manager modules):
  # { card, tpm, prompt }.
  keytapNeeds ? null,
}:

let
  workspace = lib.importTOML ../Cargo.toml;
  isLinux = stdenv.hostPlatform.isLinux;
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
      ../keyservice
      ../plugins
      ../tests
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [
    "--package"
    crate
  ];

  nativeBuildInputs = lib.optional (pname == "age-plugin-yubikey" && isLinux || pname == "age-plugin-tpm") pkg-config;
  buildInputs =
    lib.optional (pname == "age-plugin-yubikey" && isLinux) pcsclite
    ++ lib.optional (pname == "age-plugin-tpm") tpm2-tss;

  # The workspace's tests run against the real sops, as root, with ramfs mounts: CI runs
  # them, the build sandbox cannot.
  doCheck = false;

  # `sops-install-secrets`, as the modules and sops-nix's tools call the installer: keytap
  # run by that name is the installer, with the Go installer's flags and messages.
  postInstall = lib.optionalString (pname == "keytap") ''
    ln -s keytap $out/bin/sops-install-secrets
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
    platforms = lib.platforms.linux ++ lib.optionals (pname != "age-plugin-tpm") lib.platforms.darwin;
  };
}
