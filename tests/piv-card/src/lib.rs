//! A software YubiKey for tests and demos: a PIV applet emulator ([`applet`]) that keeps its
//! state in a file ([`state`]) and plugs into a real PC/SC stack through vsmartcard's vpcd
//! driver ([`vpcd`]), and a harness that starts pcscd and inserts and removes cards
//! ([`harness`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod applet;
pub mod harness;
pub mod state;
pub mod vpcd;
