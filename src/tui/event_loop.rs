//! The event loop: terminal input and background results arrive on one channel as messages;
//! each batch goes through `update`, then one redraw. The loop never waits on the store or the
//! runner, so keys are answered within a frame while training saturates the CPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent};
use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::tui::app::App;
use crate::tui::message::{Command, Message};
use crate::tui::update::update;
use crate::tui::views::view;

/// Clock updates (durations, ETAs).
const TICK: Duration = Duration::from_millis(250);
/// Background events redraw at most this often; keys redraw at once.
const FRAME: Duration = Duration::from_millis(33);
/// The longest a batch of messages is applied before drawing, so a flood cannot delay a key.
const BATCH: Duration = Duration::from_millis(8);

/// What arrives on the loop's channel: a message, with when its key was read for keys.
pub enum Inbound {
    Key(crossterm::event::KeyEvent, Instant),
    Other(Message),
}

/// The times from reading a key to the end of the redraw that shows its effect.
#[derive(Debug, Default, Clone)]
pub struct Latency {
    pub samples_us: Vec<u64>,
}

impl Latency {
    fn record(&mut self, since: Instant) {
        let us = since.elapsed().as_micros() as u64;
        tracing::debug!(latency_us = us, "key answered");
        self.samples_us.push(us);
    }

    /// `keys 40: p50 1.2 ms, p95 3.4 ms, max 5.0 ms`.
    pub fn summary(&self) -> String {
        if self.samples_us.is_empty() {
            return "no key pressed".into();
        }
        let mut s = self.samples_us.clone();
        s.sort_unstable();
        let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        format!(
            "keys {}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            s.len(),
            at(0.5),
            at(0.95),
            at(1.0)
        )
    }
}

/// Reads the terminal on its own thread until `stop` is set.
pub fn spawn_input(tx: Sender<Inbound>, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("tui-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match event::poll(Duration::from_millis(100)) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(err) => {
                        tracing::error!("terminal input: {err}");
                        break;
                    }
                }
                let inbound = match event::read() {
                    Ok(TermEvent::Key(key)) => Inbound::Key(key, Instant::now()),
                    Ok(TermEvent::Resize(width, height)) => {
                        Inbound::Other(Message::Resize { width, height })
                    }
                    Ok(_) => continue,
                    Err(err) => {
                        tracing::error!("terminal input: {err}");
                        break;
                    }
                };
                if tx.send(inbound).is_err() {
                    break;
                }
            }
        })
        .expect("spawning the input thread");
}

/// Runs until the app wants to quit; `commands` receives what `update` asks of the background.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    inbox: &Receiver<Inbound>,
    commands: &Sender<Command>,
) -> Result<Latency, B::Error> {
    if let Ok(size) = terminal.size() {
        update(
            app,
            Message::Resize {
                width: size.width,
                height: size.height,
            },
        );
    }
    let mut latency = Latency::default();
    let mut pending_keys: Vec<Instant> = Vec::new();
    let mut next_tick = Instant::now();
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    loop {
        // Send what the last updates asked for before waiting.
        for command in app.commands.drain(..) {
            if commands.send(command).is_err() {
                tracing::error!("the background thread is gone");
            }
        }
        if app.should_quit {
            return Ok(latency);
        }
        let now = Instant::now();
        if now >= next_tick {
            update(
                app,
                Message::Tick {
                    now_ms: collm_store::now_ms(),
                },
            );
            next_tick = now + TICK;
            dirty = true;
        }
        let frame_due = last_draw.map_or(now, |t| t + FRAME);
        if !pending_keys.is_empty() || (dirty && now >= frame_due) {
            terminal.draw(|frame| view(app, frame))?;
            last_draw = Some(Instant::now());
            dirty = false;
            for at in pending_keys.drain(..) {
                latency.record(at);
            }
            continue;
        }
        let wake = if dirty {
            frame_due.min(next_tick)
        } else {
            next_tick
        };
        let first = match inbox.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(inbound) => inbound,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(latency),
        };
        // Apply everything already waiting (bounded), then draw once.
        let started = Instant::now();
        let mut next = Some(first);
        while let Some(inbound) = next {
            match inbound {
                Inbound::Key(key, at) => {
                    pending_keys.push(at);
                    update(app, Message::Key(key));
                }
                Inbound::Other(message) => update(app, message),
            }
            dirty = true;
            if started.elapsed() >= BATCH {
                break;
            }
            next = inbox.try_recv().ok();
        }
    }
}
