# A NixOS VM test of the module with the real installer (`nix flake check` on Linux).
# It boots a machine configured like a sops-nix user (age key file, a secret owned by a
# user, a user's password, a nested key, a template) and checks what lands in /run.
{
  testers,
  nixosModule,
}:

testers.runNixOSTest {
  name = "keytap-sops";

  nodes.machine =
    { config, lib, ... }:
    {
      imports = [ nixosModule ];

      sops = {
        defaultSopsFile = ./secrets.yaml;
        age.keyFile = "/run/age-keys.txt";
        gnupg.sshKeyPaths = [ ];
        secrets.claude_key.owner = "alice";
        secrets.alice_password.neededForUsers = true;
        secrets."nested/db/password".restartUnits = [ "restart-me.service" ];
        templates."app.env" = {
          content = "API_KEY=${config.sops.placeholder.claude_key}\n";
          owner = "alice";
        };
      };

      # The key must be there before the activation script runs.
      boot.initrd.postDeviceCommands = ''
        cp ${./test-age-key.txt} /run/age-keys.txt
        chmod 600 /run/age-keys.txt
      '';

      users.users.alice = {
        isNormalUser = true;
        hashedPasswordFile = config.sops.secrets.alice_password.path;
      };

      systemd.services.restart-me = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "/bin/sh -c true";
        };
      };
      system.switch.enable = true;
    };

  testScript = ''
    machine.wait_for_unit("multi-user.target")
    machine.succeed("test \"$(cat /run/secrets/claude_key)\" = sk-test-not-a-real-key")
    machine.succeed("test \"$(stat -c %U /run/secrets/claude_key)\" = alice")
    machine.succeed("test \"$(stat -c %a /run/secrets/claude_key)\" = 400")
    machine.succeed("test \"$(cat /run/secrets/nested/db/password)\" = hunter2")
    machine.succeed("grep -q '^API_KEY=sk-test-not-a-real-key$' /run/secrets/rendered/app.env")
    machine.succeed("test -f /run/secrets-for-users/alice_password")
    machine.succeed("getent shadow alice | grep -qF 'testsalt'")
    machine.succeed("test \"$(stat -f -c %T /run/secrets.d)\" = ramfs")
    machine.succeed("test \"$(readlink /run/secrets)\" = /run/secrets.d/1")
    machine.succeed("/run/current-system/bin/switch-to-configuration test")
    machine.succeed("test \"$(readlink /run/secrets)\" = /run/secrets.d/2")
    machine.fail("test -e /run/secrets.d/1")
  '';
}
