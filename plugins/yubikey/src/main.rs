//! `age-plugin-yubikey` (keytap's): age identities in the retired PIV slots of YubiKeys,
//! wire-compatible with str4d's age-plugin-yubikey 0.5 (same recipients, identities,
//! stanzas, certificates and command line), plus the age 1.3 `p256tag` stanza for the same
//! keys (`--recipient-type tag` prints their `age1tag1...` recipient).
#![forbid(unsafe_code)]

mod card;
mod plugin;
mod stub;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Parser, ValueEnum};
use keytap_p256::{piv as pivfmt, P256Point};
use rand::RngCore;
use x509_cert::der::asn1::{
    GeneralizedTime, OctetString, OctetStringRef, SetOfVec, UtcTime, Utf8StringRef,
};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Any, DateTime};
use yubikey::piv::{AlgorithmId, RetiredSlotId, SlotId};
use yubikey::{MgmKey, PinPolicy, Serial, TouchPolicy, YubiKey};
use zeroize::Zeroizing;

use card::{CardError, SlotInfo};
use stub::Stub;

/// What the certificates say made them (the Organization age-plugin-yubikey looks for).
const BINARY_NAME: &str = "age-plugin-yubikey";
const DEFAULT_PIN: &str = "123456";
const DEFAULT_PUK: &str = "12345678";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RecipientType {
    /// `age1yubikey1...` (stanza `piv-p256`): age-plugin-yubikey's recipients.
    Yubikey,
    /// `age1tag1...` (stanza `p256tag`): age 1.3's native tagged recipient of the same key.
    Tag,
}

#[derive(Debug, Parser)]
#[command(
    name = "age-plugin-yubikey",
    version,
    about = "YubiKey plugin for age clients (keytap; wire-compatible with age-plugin-yubikey 0.5)",
    group(ArgGroup::new("command").args(["generate", "identity", "list", "list_all", "age_plugin"]))
)]
struct Cli {
    /// Run the given age plugin state machine. Internal use only.
    #[arg(long, value_name = "STATE-MACHINE")]
    age_plugin: Option<String>,

    /// Force --generate to overwrite a filled slot.
    #[arg(short, long)]
    force: bool,

    /// Generate a new YubiKey identity.
    #[arg(short, long)]
    generate: bool,

    /// Print identities stored in connected YubiKeys.
    #[arg(short, long)]
    identity: bool,

    /// List recipients for age identities in connected YubiKeys.
    #[arg(short, long)]
    list: bool,

    /// List recipients for all YubiKey keys that are compatible with age.
    #[arg(long)]
    list_all: bool,

    /// Name for the generated identity. Defaults to 'age identity HEX_TAG'.
    #[arg(long)]
    name: Option<String>,

    /// One of [always, once, never]. Defaults to 'once'.
    #[arg(long)]
    pin_policy: Option<String>,

    /// Specify which YubiKey to use, if more than one is plugged in.
    #[arg(long)]
    serial: Option<u32>,

    /// Specify which slot to use. Defaults to first usable slot.
    #[arg(long)]
    slot: Option<u8>,

    /// One of [always, cached, never]. Defaults to 'always'.
    #[arg(long)]
    touch_policy: Option<String>,

    /// Which recipient to print: age-plugin-yubikey's (yubikey) or age 1.3's age1tag1 (tag).
    #[arg(long, value_enum, default_value = "yubikey")]
    recipient_type: RecipientType,

    /// --generate without a terminal: read the PIN from this file (first line).
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,

    /// --generate on a card with the default PIN: the new PIN (and PUK) from this file.
    #[arg(long, value_name = "FILE")]
    new_pin_file: Option<PathBuf>,

    /// --generate on a card with the default PIN: the current PUK from this file
    /// (default 12345678 without a terminal).
    #[arg(long, value_name = "FILE")]
    puk_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(sm) = &cli.age_plugin {
        return keytap_plugin_kit::run::<plugin::YubikeyPlugin>("age-plugin-yubikey", sm);
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Flags {
    serial: Option<Serial>,
    slot: Option<RetiredSlotId>,
    pin_policy: Option<PinPolicy>,
    touch_policy: Option<TouchPolicy>,
}

fn flags(cli: &Cli) -> Result<Flags, String> {
    let slot = cli
        .slot
        .map(|n| {
            card::ui_to_slot(n).ok_or(format!(
                "Invalid slot '{n}' (expected number between 1 and 20)."
            ))
        })
        .transpose()?;
    let pin_policy = cli
        .pin_policy
        .as_deref()
        .map(|s| card::parse_policy(&card::PIN_POLICIES, "PIN policy", s))
        .transpose()?;
    let touch_policy = cli
        .touch_policy
        .as_deref()
        .map(|s| card::parse_policy(&card::TOUCH_POLICIES, "touch policy", s))
        .transpose()?;
    Ok(Flags {
        serial: cli.serial.map(Serial::from),
        slot,
        pin_policy,
        touch_policy,
    })
}

fn run(cli: &Cli) -> Result<(), String> {
    let f = flags(cli)?;
    if cli.generate {
        generate(cli, &f)
    } else if cli.identity || cli.list || cli.list_all {
        let (cmd, all) = if cli.identity {
            ("--identity", false)
        } else if cli.list {
            ("--list", false)
        } else {
            ("--list-all", true)
        };
        if cli.force {
            return Err(format!("Flag '--force' cannot be used with '{cmd}'."));
        }
        if all && f.slot.is_some() {
            return Err("Use --list to print the recipient for a single slot.".into());
        }
        print_details(cli, &f, all)
    } else {
        Err("use --generate, --identity, --list or --list-all (see --help); the interactive setup of age-plugin-yubikey is not provided".into())
    }
}

fn metadata_text(serial: Serial, info: &SlotInfo) -> String {
    format!(
        "#       Serial: {serial}, Slot: {}\n#         Name: {}\n#      Created: {}\n#   PIN policy: {}\n# Touch policy: {}",
        card::slot_to_ui(info.slot),
        info.name,
        info.created,
        card::policy_text(&card::PIN_POLICIES, info.pin_policy),
        card::policy_text(&card::TOUCH_POLICIES, info.touch_policy),
    )
}

fn recipient_string(cli: &Cli, pk: &P256Point) -> String {
    match cli.recipient_type {
        RecipientType::Yubikey => pivfmt::SCHEME.encode_recipient(pk),
        RecipientType::Tag => keytap_p256::tag::encode_recipient(pk),
    }
}

fn print_identity(cli: &Cli, serial: Serial, info: &SlotInfo, pk: &P256Point) {
    let recipient = recipient_string(cli, pk);
    if !std::io::stdout().is_terminal() {
        eprintln!("Recipient: {recipient}");
    }
    println!("{}", metadata_text(serial, info));
    println!("#    Recipient: {recipient}");
    println!("{}", Stub::new(serial, info.slot, pk).encode());
}

fn print_recipient(cli: &Cli, serial: Serial, info: &SlotInfo, pk: &P256Point) {
    println!("{}", metadata_text(serial, info));
    println!("{}", recipient_string(cli, pk));
}

fn print_details(cli: &Cli, f: &Flags, all: bool) -> Result<(), String> {
    let printer = |serial: Serial, info: &SlotInfo, pk: &P256Point| {
        if cli.identity {
            print_identity(cli, serial, info, pk)
        } else {
            print_recipient(cli, serial, info, pk)
        }
    };
    if let Some(slot) = f.slot {
        let mut yk = card::open(f.serial).map_err(|e| e.to_string())?;
        let found = card::list_slots(&mut yk)
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|i| i.slot == slot && i.recipient.is_some());
        let Some(mut info) = found else {
            card::leave(yk);
            return Err(format!(
                "Slot {} does not contain an age identity or compatible key.",
                card::slot_to_ui(slot)
            ));
        };
        info.complete_policies(&mut yk);
        printer(yk.serial(), &info, &info.recipient.expect("filtered"));
        card::leave(yk);
        return Ok(());
    }
    let mut printed = 0;
    for mut yk in card::open_all().map_err(|e| e.to_string())? {
        if f.serial.is_some_and(|s| s != yk.serial()) {
            card::leave(yk);
            continue;
        }
        let slots = card::list_slots(&mut yk).map_err(|e| e.to_string())?;
        for mut info in slots {
            let Some(pk) = info.recipient else { continue };
            if !info.ours && !all {
                continue;
            }
            info.complete_policies(&mut yk);
            printer(yk.serial(), &info, &pk);
            printed += 1;
            println!();
        }
        println!();
        card::leave(yk);
    }
    if printed > 1 {
        let kind = if cli.identity {
            "identities"
        } else {
            "recipients"
        };
        eprintln!(
            "Generated {kind} for {printed} slots. If you intended to select a slot, use --slot."
        );
    }
    Ok(())
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    Ok(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()))
}

fn ask(prompt: &str) -> Result<Zeroizing<String>, String> {
    rpassword::prompt_password(format!("{prompt}: "))
        .map(Zeroizing::new)
        .map_err(|e| format!("Failed to get input from user: {e} (use --pin-file)"))
}

/// Verifies the PIN (changing a default PIN and PUK first, as age-plugin-yubikey insists),
/// then authenticates with the PIN-protected management key, creating one if the card
/// still has the default management key. Returns the PIN.
fn manage(cli: &Cli, yk: &mut YubiKey) -> Result<Zeroizing<String>, String> {
    let serial = yk.serial();
    let interactive = std::io::stdin().is_terminal();
    eprintln!();
    let mut pin = match &cli.pin_file {
        Some(p) => read_secret_file(p)?,
        None => ask(&format!(
            "Enter PIN for YubiKey with serial {serial} (default is {DEFAULT_PIN})"
        ))?,
    };
    card::verify_pin(yk, pin.as_bytes()).map_err(|e| e.to_string())?;

    if pin.as_str() == DEFAULT_PIN {
        eprintln!();
        eprintln!("✨ Your YubiKey is using the default PIN. Let's change it!");
        eprintln!("✨ We'll also set the PUK equal to the PIN.");
        eprintln!();
        let puk = match &cli.puk_file {
            Some(p) => read_secret_file(p)?,
            None if cli.new_pin_file.is_some() || !interactive => {
                Zeroizing::new(DEFAULT_PUK.to_owned())
            }
            None => ask(&format!("Enter current PUK (default is {DEFAULT_PUK})"))?,
        };
        let new_pin = match &cli.new_pin_file {
            Some(p) => read_secret_file(p)?,
            None if !interactive => return Err(
                "The YubiKey uses the default PIN: give the new PIN (and PUK) with --new-pin-file"
                    .into(),
            ),
            None => {
                let a = ask("Choose a new PIN/PUK")?;
                let b = ask("Repeat the PIN/PUK")?;
                if a != b {
                    return Err("PINs don't match".into());
                }
                a
            }
        };
        if new_pin.as_str() == DEFAULT_PIN {
            return Err("You entered the default PIN again. You need to change it.".into());
        }
        if !(6..=8).contains(&new_pin.len()) {
            return Err("The PIN must be at least 6 and at most 8 characters in length.".into());
        }
        yk.change_puk(puk.as_bytes(), new_pin.as_bytes())
            .map_err(|e| match e {
                yubikey::Error::PinLocked | yubikey::Error::WrongPin { tries: 0 } => {
                    "PUK locked".to_string()
                }
                yubikey::Error::WrongPin { tries } => {
                    format!("Invalid PUK ({tries} tries remaining before it is blocked)")
                }
                e => e.to_string(),
            })?;
        yk.change_pin(pin.as_bytes(), new_pin.as_bytes())
            .map_err(|e| e.to_string())?;
        pin = new_pin;
        card::verify_pin(yk, pin.as_bytes()).map_err(|e| e.to_string())?;
    }

    match MgmKey::get_protected(yk) {
        Ok(key) => yk.authenticate(key).map_err(|_| {
            "Failed to authenticate with the PIN-protected management key.".to_string()
        })?,
        Err(yubikey::Error::AuthenticationError) => {
            return Err("Failed to authenticate with the PIN-protected management key.".into())
        }
        Err(_) => {
            yk.authenticate(MgmKey::default()).map_err(|_| {
                "Custom unprotected non-TDES management keys are not supported.".to_string()
            })?;
            let key = MgmKey::generate();
            eprintln!();
            eprintln!("✨ Your YubiKey is using the default management key.");
            eprintln!("✨ We'll migrate it to a PIN-protected management key.");
            eprint!("... ");
            key.set_protected(yk).map_err(|e| {
                format!("An error occurred while setting the new management key: {e}")
            })?;
            eprintln!("Success!");
        }
    }
    Ok(pin)
}

/// The policy extension: two bytes, PIN policy then touch policy, not DER-wrapped (as
/// Yubico's attestation certificates and age-plugin-yubikey have it).
struct PolicyExtension([u8; 2]);

impl AssociatedOid for PolicyExtension {
    const OID: ObjectIdentifier = card::POLICY_EXTENSION_OID;
}

impl x509_cert::der::Encode for PolicyExtension {
    fn encoded_len(&self) -> x509_cert::der::Result<x509_cert::der::Length> {
        OctetStringRef::new(&self.0)?.encoded_len()
    }

    fn encode(&self, writer: &mut impl x509_cert::der::Writer) -> x509_cert::der::Result<()> {
        OctetStringRef::new(&self.0)?.encode(writer)
    }
}

impl x509_cert::ext::AsExtension for PolicyExtension {
    fn critical(&self, _: &x509_cert::name::Name, _: &[x509_cert::ext::Extension]) -> bool {
        false
    }

    fn to_extension(
        &self,
        _: &x509_cert::name::Name,
        _: &[x509_cert::ext::Extension],
    ) -> x509_cert::der::Result<x509_cert::ext::Extension> {
        Ok(x509_cert::ext::Extension {
            extn_id: Self::OID,
            critical: false,
            extn_value: OctetString::new(self.0.to_vec())?,
        })
    }
}

fn rdn(oid: &str, value: &str) -> Result<x509_cert::name::RelativeDistinguishedName, String> {
    let atv = x509_cert::attr::AttributeTypeAndValue {
        oid: ObjectIdentifier::new(oid).map_err(|e| e.to_string())?,
        value: Any::from(Utf8StringRef::new(value).map_err(|e| e.to_string())?),
    };
    Ok(x509_cert::name::RelativeDistinguishedName(
        SetOfVec::try_from(vec![atv]).map_err(|e| e.to_string())?,
    ))
}

fn generate(cli: &Cli, f: &Flags) -> Result<(), String> {
    let mut yk = card::open(f.serial).map_err(|e| match e {
        CardError::NotFound(s) => format!("Could not find YubiKey with serial {s}."),
        e => e.to_string(),
    })?;
    let serial = yk.serial();
    let occupied: Vec<RetiredSlotId> = card::list_slots(&mut yk)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|i| i.slot)
        .collect();
    let slot = match f.slot {
        Some(slot) => {
            if !cli.force && occupied.contains(&slot) {
                return Err(format!(
                    "Slot {} is not empty. Use --force to overwrite the slot.",
                    card::slot_to_ui(slot)
                ));
            }
            slot
        }
        None => card::USABLE_SLOTS
            .iter()
            .copied()
            .find(|s| !occupied.contains(s))
            .ok_or(format!("YubiKey with serial {serial} has no empty slots."))?,
    };
    let pin_policy = f.pin_policy.unwrap_or(PinPolicy::Once);
    let touch_policy = f.touch_policy.unwrap_or(TouchPolicy::Always);

    eprintln!("🎲 Generating key...");
    let pin = manage(cli, &mut yk)?;
    let spki = yubikey::piv::generate(
        &mut yk,
        SlotId::Retired(slot),
        AlgorithmId::EccP256,
        pin_policy,
        touch_policy,
    )
    .map_err(|e| format!("Error while communicating with YubiKey: {e}"))?;
    let recipient = P256Point::from_uncompressed(spki.subject_public_key.raw_bytes())
        .map_err(|e| format!("the YubiKey generated an invalid key: {e}"))?;
    let stub = Stub::new(serial, slot, &recipient);

    eprintln!();
    eprintln!("🔏 Generating certificate...");
    let mut serial_bytes = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut serial_bytes);
    serial_bytes[0] = (serial_bytes[0] & 0x3f) | 0x40;
    let cert_serial =
        x509_cert::serial_number::SerialNumber::new(&serial_bytes).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let validity = x509_cert::time::Validity {
        not_before: x509_cert::time::Time::UtcTime(
            UtcTime::from_unix_duration(Duration::from_secs(now.as_secs()))
                .map_err(|e| e.to_string())?,
        ),
        not_after: x509_cert::time::Time::GeneralTime(GeneralizedTime::from_date_time(
            DateTime::new(9999, 12, 31, 23, 59, 59).map_err(|e| e.to_string())?,
        )),
    };
    let name = cli.name.clone().unwrap_or_else(|| {
        format!(
            "age identity {}",
            stub.tag
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    });
    let subject = x509_cert::name::RdnSequence(vec![
        rdn("2.5.4.10", BINARY_NAME)?,
        rdn("2.5.4.11", concat!("keytap ", env!("CARGO_PKG_VERSION")))?,
        rdn("2.5.4.3", &name)?,
    ]);
    if pin_policy == PinPolicy::Always {
        // The signature below is a private-key operation: the PIN goes right before it.
        card::verify_pin(&mut yk, pin.as_bytes()).map_err(|e| e.to_string())?;
    }
    if touch_policy != TouchPolicy::Never {
        eprintln!("👆 Please touch the YubiKey");
    }
    let policy = PolicyExtension([
        card::policy_byte(&card::PIN_POLICIES, pin_policy),
        card::policy_byte(&card::TOUCH_POLICIES, touch_policy),
    ]);
    let cert = yubikey::certificate::Certificate::generate_self_signed::<_, p256::NistP256>(
        &mut yk,
        SlotId::Retired(slot),
        cert_serial,
        validity,
        subject,
        spki,
        |builder| {
            builder
                .add_extension(&policy)
                .map_err(|_| x509_cert::der::Error::from(x509_cert::der::ErrorKind::Failed))
        },
    )
    .map_err(|e| format!("Error while communicating with YubiKey: {e}"))?;

    let info = SlotInfo::from_cert(slot, cert);
    print_identity(cli, serial, &info, &recipient);
    // Generation authenticated with the management key: let the card reset on disconnect
    // (dropping `yk`), which clears the PIN and management key status.
    drop(yk);
    Ok(())
}
