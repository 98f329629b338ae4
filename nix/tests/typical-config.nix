# A typical sops-nix user's configuration, unchanged but for the import: age key file,
# SSH host key, a secret owned by a user, a user's password, a nested key, a template.
{ config, ... }:
{
  services.openssh.enable = true;
  sops.gnupg.sshKeyPaths = [ ];
  sops.defaultSopsFile = ./secrets.yaml;
  sops.age.keyFile = "/var/lib/sops-nix/key.txt";

  sops.secrets.claude_key.owner = "alice";
  sops.secrets.alice_password.neededForUsers = true;
  sops.secrets."nested/db/password" = {
    restartUnits = [ "postgresql.service" ];
  };
  sops.templates."app.env".content = ''
    API_KEY=${config.sops.placeholder.claude_key}
  '';

  users.users.alice = {
    isNormalUser = true;
    group = "users";
    hashedPasswordFile = config.sops.secrets.alice_password.path;
  };
}
