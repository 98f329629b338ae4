# The few home-manager options keytap's home-manager module reads or sets, declared with
# the types home-manager gives them (`home.activation` is home-manager's own DAG type from
# `lib.hm`), so the module evaluates with `lib.evalModules` where home-manager itself is not
# available. Used by the tests only.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  inherit (import ./stub-lib.nix { inherit lib; }) option bool assertionOptions;
  # A systemd unit as home-manager writes it: sections of keys to values or lists.
  units = option (types.attrsOf (types.attrsOf (types.attrsOf types.anything))) { };
in
{
  options = assertionOptions // {
    home = {
      username = mkOption { type = types.str; };
      homeDirectory = mkOption { type = types.path; };
      sessionVariables = option (types.lazyAttrsOf (
        types.oneOf [ types.str types.path types.int types.float ]
      )) { };
      activation = option (lib.hm.types.dagOf types.str) { };
    };
    xdg.configHome = option types.str "${config.home.homeDirectory}/.config";
    systemd.user = {
      systemctlPath = option types.str "${pkgs.systemd}/bin/systemctl";
      services = units;
      sockets = units;
    };
    launchd.agents = option (types.attrsOf (
      types.submodule {
        options = {
          enable = bool;
          config = option (types.attrsOf types.anything) { };
        };
      }
    )) { };
  };
}
