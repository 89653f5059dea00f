//! A fault proxy on loopback, between a phone and the server: forwards TCP both ways and, as
//! told, cuts connections after a number of bytes, delays, resets, or answers with garbage.
//! It counts the bytes it forwards from client to server, so tests and the benchmark can
//! compare what was sent with what had to arrive.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy does to new connections (and, for `CutEvery`, to bytes in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward faithfully.
    None,
    /// Cut the connection carrying the client's bytes each time the running total of bytes
    /// sent to the server crosses a multiple of this many bytes.
    CutEvery(u64),
    /// Wait this long before forwarding each piece, both ways.
    Delay(Duration),
    /// Read the start of the request, then close with unread data: the client sees a reset.
    Reset,
    /// Answer every request with a well-formed HTTP reply whose body is not JSON.
    Garbage,
    /// Forward requests to the server, which handles them, then close the connection before
    /// the first byte of its reply reaches the client: the reply is lost on the way back.
    DropReplies,
}

struct Shared {
    target: Mutex<SocketAddr>,
    fault: Mutex<Fault>,
    upstream_bytes: AtomicU64,
    cuts: AtomicU64,
    /// Bumped by every change of fault: connections from before it are closed, so a pooled
    /// keep-alive connection cannot slip past the new fault.
    generation: AtomicU64,
    stop: AtomicBool,
}

pub struct FaultProxy {
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback http://ip:port URL")
}

impl FaultProxy {
    pub fn start(target_url: &str, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            target: Mutex::new(addr_of(target_url)),
            fault: Mutex::new(fault),
            upstream_bytes: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let s = s.clone();
                thread::spawn(move || handle(client, s));
            }
        });
        FaultProxy {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.shared.fault.lock().expect("lock") = fault;
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Points the proxy at another server (a restarted one on a new port).
    pub fn retarget(&self, target_url: &str) {
        *self.shared.target.lock().expect("lock") = addr_of(target_url);
    }

    /// Bytes forwarded from clients to the server so far.
    pub fn upstream_bytes(&self) -> u64 {
        self.shared.upstream_bytes.load(Ordering::SeqCst)
    }

    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn handle(mut client: TcpStream, s: Arc<Shared>) {
    let generation = s.generation.load(Ordering::SeqCst);
    let fault = *s.fault.lock().expect("lock");
    let _ = client.set_nodelay(true);
    match fault {
        Fault::Reset => {
            let mut buf = [0u8; 16];
            let _ = client.read(&mut buf);
            // Unread request bytes remain: closing now makes the kernel send a reset.
            return;
        }
        Fault::Garbage => {
            let mut buf = [0u8; 64 * 1024];
            let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = client.read(&mut buf);
            let body = b"<html>\x00\xffgateway says hello{{{";
            let _ = write!(
                client,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = client.write_all(body);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        _ => {}
    }
    let target = *s.target.lock().expect("lock");
    let Ok(server) = TcpStream::connect(target) else {
        return; // the server is down: the client sees the connection close
    };
    let _ = server.set_nodelay(true);
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let s2 = s.clone();
    // Server to client.
    let down = thread::spawn(move || pump(server2, client2, &s2, false, generation));
    pump(client, server, &s, true, generation);
    let _ = down.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream, s: &Shared, upstream: bool, generation: u64) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if s.generation.load(Ordering::SeqCst) != generation {
            break;
        }
        let fault = *s.fault.lock().expect("lock");
        if let Fault::Delay(d) = fault {
            thread::sleep(d);
        }
        if !upstream && fault == Fault::DropReplies {
            // The server has answered, so it has done the work; the client never hears of it.
            break;
        }
        let mut send = n;
        let mut cut = false;
        if upstream {
            let before = s.upstream_bytes.load(Ordering::SeqCst);
            if let Fault::CutEvery(every) = fault
                && every > 0
            {
                let boundary = (before / every + 1) * every;
                if before + n as u64 >= boundary {
                    send = (boundary - before) as usize;
                    cut = true;
                }
            }
            s.upstream_bytes.fetch_add(send as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..send]).is_err() {
            break;
        }
        if cut {
            // The first `every` bytes arrive; the rest is lost with the connection.
            s.cuts.fetch_add(1, Ordering::SeqCst);
            let _ = to.shutdown(Shutdown::Write);
            let _ = from.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
