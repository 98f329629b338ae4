//! The card side of vsmartcard's vpcd driver: pcscd's driver listens on TCP (35963 for
//! "Virtual PCD 00 00", 35964 for "Virtual PCD 00 01"); the card connects, which inserts it,
//! and disconnects, which removes it. Both directions frame a message as a 2-byte big-endian
//! length then the payload. A 1-byte payload from the driver is a control: 0x00 power off,
//! 0x01 power on, 0x02 reset, 0x04 get ATR (answered with the ATR). Anything longer is a
//! command APDU, answered with the response APDU.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::applet::Applet;

/// A YubiKey 5 NFC's ATR (T=1).
pub const ATR: [u8; 23] = [
    0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40,
];

/// The TCP port of vpcd reader `index` ("Virtual PCD 00 0<index>").
pub fn reader_port(index: u16) -> u16 {
    35963 + index
}

/// Where the card keeps its state and reports its counters, and when it removes itself.
pub struct Options {
    /// The state file, rewritten after every change.
    pub state_path: PathBuf,
    /// Where the counters are written after every APDU that changes them.
    pub counters_path: Option<PathBuf>,
    /// Disconnect (be removed) right after answering this many ECDH operations.
    pub remove_after_ecdh: Option<u64>,
    /// Log every APDU to stderr.
    pub verbose: bool,
}

/// Connects to the driver at `addr`, retrying until `timeout` (the driver listens only once
/// pcscd has loaded it).
pub fn connect(addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if start.elapsed() >= timeout => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn read_frame(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut buf = vec![0; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf)?;
    Ok(Some(buf))
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    stream.write_all(&out)
}

/// Serves the card on `stream` until the driver closes it (pcscd stopped) or the card
/// removes itself. Returns why it stopped.
pub fn serve(mut stream: TcpStream, applet: &mut Applet, opts: &Options) -> Result<String, String> {
    let mut last_counters = None;
    loop {
        let Some(msg) = read_frame(&mut stream).map_err(|e| e.to_string())? else {
            return Ok("the driver closed the connection".into());
        };
        if msg.len() == 1 {
            match msg[0] {
                0x00..=0x02 => applet.reset(),
                0x04 => write_frame(&mut stream, &ATR).map_err(|e| e.to_string())?,
                other => eprintln!("keytap-piv-card: unknown control byte {other:#04x}"),
            }
            if opts.verbose {
                eprintln!("keytap-piv-card: control {:02x}", msg[0]);
            }
            continue;
        }
        let response = applet.process(&msg);
        if opts.verbose {
            eprintln!("keytap-piv-card: > {}", hex::encode(&msg));
            eprintln!("keytap-piv-card: < {}", hex::encode(&response));
        }
        if applet.take_dirty() {
            applet.state.save(&opts.state_path)?;
        }
        if let Some(path) = &opts.counters_path {
            if last_counters.as_ref() != Some(&applet.counters) {
                crate::state::write_atomic(path, applet.counters.render().as_bytes())?;
                last_counters = Some(applet.counters.clone());
            }
        }
        write_frame(&mut stream, &response).map_err(|e| e.to_string())?;
        if opts
            .remove_after_ecdh
            .is_some_and(|n| applet.counters.ecdh >= n)
        {
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return Ok(format!(
                "removed after {} ECDH operations",
                applet.counters.ecdh
            ));
        }
    }
}
