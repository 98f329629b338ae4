// A command-line face of typage (npm `age-encryption`, by age's author), the interop peer of
// keytap's tests. Binary data goes through stdin/stdout.
//   keygen-pq                      -> "<identity>\n<recipient>\n"
//   recipient <identity>           -> "<recipient>\n"
//   encrypt [--armor] <recipient>... < plaintext > age file
//   decrypt <identity>...          < age file (binary or armored) > plaintext
import * as age from "age-encryption";
import { readFileSync } from "node:fs";

const [cmd, ...args] = process.argv.slice(2);
const stdin = () => new Uint8Array(readFileSync(0));
const out = (bytes) => process.stdout.write(Buffer.from(bytes));

switch (cmd) {
  case "keygen-pq": {
    const identity = await age.generateHybridIdentity();
    const recipient = await age.identityToRecipient(identity);
    out(new TextEncoder().encode(`${identity}\n${recipient}\n`));
    break;
  }
  case "recipient": {
    out(new TextEncoder().encode(`${await age.identityToRecipient(args[0])}\n`));
    break;
  }
  case "encrypt": {
    const armor = args[0] === "--armor";
    const e = new age.Encrypter();
    for (const r of armor ? args.slice(1) : args) e.addRecipient(r);
    const ct = await e.encrypt(stdin());
    out(armor ? new TextEncoder().encode(age.armor.encode(ct)) : ct);
    break;
  }
  case "decrypt": {
    const d = new age.Decrypter();
    for (const i of args) d.addIdentity(i);
    let input = stdin();
    const text = new TextDecoder().decode(input);
    if (text.trimStart().startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) {
      input = age.armor.decode(text);
    }
    out(await d.decrypt(input));
    break;
  }
  default:
    throw new Error(`unknown command ${cmd}`);
}
