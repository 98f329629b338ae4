# The few home-manager options keytap's home-manager module reads or sets, declared with
# the types home-manager gives them (`home.activation` is home-manager's own DAG type from
# `lib.hm`), so the module evaluates with `lib.evalModules` where home-manager itself is not
# available. Used by the tests only.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption types;
  # A systemd unit as home-manager writes it: sections of keys to values or lists.
  unitType = types.attrsOf (types.attrsOf types.anything);
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    home = {
      username = mkOption { type = types.str; };
      homeDirectory = mkOption { type = types.path; };
      sessionVariables = mkOption {
        type = types.lazyAttrsOf (types.oneOf [ types.str types.path types.int types.float ]);
        default = { };
      };
      activation = mkOption {
        type = lib.hm.types.dagOf types.str;
        default = { };
      };
    };
    xdg.configHome = mkOption {
      type = types.str;
      default = "${config.home.homeDirectory}/.config";
    };
    systemd.user = {
      systemctlPath = mkOption {
        type = types.str;
        default = "${pkgs.systemd}/bin/systemctl";
      };
      services = mkOption {
        type = types.attrsOf unitType;
        default = { };
      };
      sockets = mkOption {
        type = types.attrsOf unitType;
        default = { };
      };
    };
    launchd.agents = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            enable = mkOption {
              type = types.bool;
              default = false;
            };
            config = mkOption {
              type = types.attrsOf types.anything;
              default = { };
            };
          };
        }
      );
      default = { };
    };
  };
}
