# Stand-ins for the few nixpkgs functions and packages keytap's module uses, for evaluating
# it without nixpkgs. Derivations are plain attribute sets with a fake store path; text
# files keep their text so tests can read the generated manifest.
{
  lib,
  system ? "x86_64-linux",
}:

let
  storePath = name: text: "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" "${name}\n${text}")}-${name}";
  fakePackage =
    pname: extra:
    {
      type = "derivation";
      inherit pname;
      name = "${pname}-0.0.0";
      version = "0.0.0";
      outPath = storePath pname "";
      outputs = [ "out" ];
      meta.mainProgram = pname;
    }
    // extra;
  textFile =
    {
      name,
      text,
      checkPhase ? "",
      executable ? false,
      ...
    }:
    {
      type = "derivation";
      inherit
        name
        text
        checkPhase
        executable
        ;
      outPath = storePath name text;
      outputs = [ "out" ];
    };
  platform = {
    inherit system;
    isLinux = lib.hasSuffix "-linux" system;
    isDarwin = lib.hasSuffix "-darwin" system;
  };
in
{
  writeTextFile = textFile;
  writeText = name: text: textFile { inherit name text; };
  writeShellScript =
    name: text:
    textFile {
      inherit name text;
      executable = true;
    };
  stdenv = {
    buildPlatform = platform;
    hostPlatform = platform;
    inherit (platform) isLinux isDarwin;
  };
  keytap = fakePackage "keytap" { };
  systemd = fakePackage "systemd" { };
  coreutils = fakePackage "coreutils" { };
  age = fakePackage "age" { };
  age-plugin-yubikey = fakePackage "age-plugin-yubikey" { };
  age-plugin-tpm = fakePackage "age-plugin-tpm" { };
  age-plugin-passphrase = fakePackage "age-plugin-passphrase" { };
  age-plugin-testkit = fakePackage "age-plugin-testkit" { keytapNeeds.prompt = true; };
  gnupg = fakePackage "gnupg" { };
  pinentry-gnome3 = fakePackage "pinentry-gnome3" { };
  libnotify = fakePackage "libnotify" { };
  callPackage = _: _: throw "stub pkgs: callPackage is not available";
}
