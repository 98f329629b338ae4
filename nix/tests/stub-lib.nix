# What the test stubs and harnesses share: options declared by type and default alone,
# the assertions and warnings NixOS and home-manager both have, and a configuration's
# failed assertions.
{ lib }:

let
  inherit (lib) mkOption types;
in
rec {
  option = type: default: mkOption { inherit type default; };
  strings = option (types.listOf types.str) [ ];
  bool = option types.bool false;

  assertionOptions = {
    assertions = option (types.listOf types.unspecified) [ ];
    warnings = strings;
  };

  failedAssertions = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  # `eval`: a configuration's `modules` evaluated after `base` (the module under test, its
  # stub and packages); `summary`: what `summarise` makes of the result.
  harness = base: summarise: rec {
    eval = modules: lib.evalModules { modules = base ++ modules; };
    summary =
      modules:
      let
        config = (eval modules).config;
      in
      summarise config (failedAssertions config);
  };
}
