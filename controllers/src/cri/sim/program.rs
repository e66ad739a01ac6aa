//! The small programs simulated containers run, chosen by image and command: a server that
//! listens (nginx on 80), `sleep N`, `sh -c` scripts that print, sleep, touch and remove
//! files, loop and exit with a code, and memory hogs that get OOM-killed over their limit.
//!
//! A program's whole future is fixed when it starts (it reads no input), so its state at any
//! time is computed on demand from its start time: nothing runs in the background.

use std::time::Duration;

use crate::cri::LogStream;

/// How a server answers on a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Proto {
    /// HTTP, serving files under a document root.
    Http {
        /// Directory served at `/`.
        docroot: String,
    },
    /// A plain TCP listener (redis, etcd, …).
    Tcp,
}

/// One step of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Print a line.
    Log(LogStream, String),
    /// Wait; `None` waits forever.
    Sleep(Option<Duration>),
    /// Exit with a code.
    Exit(i32),
    /// Write a file (`None` removes it).
    Write(String, Option<Vec<u8>>),
    /// Start listening on a port.
    Listen(u16, Proto),
    /// Allocate this many bytes more.
    Alloc(u64),
    /// Repeat forever.
    Loop(Vec<Step>),
}

/// What the program does on SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnTerm {
    /// Shuts down, taking this long, and exits with this code.
    Exit(Duration, i32),
    /// Ignores it (a shell or `sleep` as PID 1 has no handler): killed at the timeout.
    Ignore,
}

/// A program: its steps, its SIGTERM behaviour and its resident memory at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Program {
    pub(crate) steps: Vec<Step>,
    pub(crate) on_term: OnTerm,
    pub(crate) base_memory: u64,
}

/// Something the program did at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Log(LogStream, String),
    Write(String, Option<Vec<u8>>),
    Listen(u16, Proto),
    Alloc(u64),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    pub(crate) at: Duration,
    pub(crate) code: i32,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl Exit {
    pub(crate) fn new(at: Duration, code: i32) -> Self {
        Self {
            at,
            code,
            reason: if code == 0 { "Completed" } else { "Error" },
            message: String::new(),
        }
    }
}

const MIB: u64 = 1 << 20;

/// Walks the steps from `start`, collecting events up to `horizon` (inclusive), and the exit if
/// the program ends at or before it. A loop with no waiting in it runs its body once and then
/// is taken to spin forever (its output would be unbounded).
pub(crate) fn run(
    program: &Program,
    start: Duration,
    memory_limit: Option<u64>,
    horizon: Duration,
) -> (Vec<(Duration, Event)>, Option<Exit>) {
    let mut walk = Walk {
        t: start,
        horizon,
        memory: program.base_memory,
        limit: memory_limit,
        events: Vec::new(),
        exit: None,
        loop_budget: LOOP_ITERATIONS_MAX,
    };
    if walk.steps(&program.steps) == Flow::Continue {
        // Fell off the end: exit 0.
        if walk.t <= horizon {
            walk.exit = Some(Exit::new(walk.t, 0));
        }
    }
    (walk.events, walk.exit)
}

/// When the program exits by itself, if ever (whatever the horizon).
pub(crate) fn natural_exit(
    program: &Program,
    start: Duration,
    memory_limit: Option<u64>,
) -> Option<Exit> {
    run(program, start, memory_limit, Duration::MAX).1
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Exited, slept forever or passed the horizon.
    Stop,
}

struct Walk {
    t: Duration,
    horizon: Duration,
    memory: u64,
    limit: Option<u64>,
    events: Vec<(Duration, Event)>,
    exit: Option<Exit>,
    loop_budget: usize,
}

/// Loop iterations one walk expands at most: a loop that waits a microsecond must not make
/// a status read take minutes. Past it, the program is taken to run on silently.
const LOOP_ITERATIONS_MAX: usize = 100_000;

impl Walk {
    fn steps(&mut self, steps: &[Step]) -> Flow {
        for step in steps {
            if self.t > self.horizon {
                return Flow::Stop;
            }
            match step {
                Step::Log(stream, text) => {
                    self.events
                        .push((self.t, Event::Log(*stream, text.clone())));
                }
                Step::Write(path, content) => {
                    self.events
                        .push((self.t, Event::Write(path.clone(), content.clone())));
                }
                Step::Listen(port, proto) => {
                    self.events
                        .push((self.t, Event::Listen(*port, proto.clone())));
                }
                Step::Alloc(bytes) => {
                    self.memory = self.memory.saturating_add(*bytes);
                    if self.limit.is_some_and(|l| self.memory > l) {
                        // The kernel's OOM killer: SIGKILL, exit 137 (upstream reason
                        // `OOMKilled`).
                        self.exit = Some(Exit {
                            at: self.t,
                            code: 137,
                            reason: "OOMKilled",
                            message: String::new(),
                        });
                        return Flow::Stop;
                    }
                    self.events.push((self.t, Event::Alloc(*bytes)));
                }
                Step::Exit(code) => {
                    self.exit = Some(Exit::new(self.t, *code));
                    return Flow::Stop;
                }
                Step::Sleep(None) => return Flow::Stop,
                Step::Sleep(Some(d)) => self.t = self.t.saturating_add(*d),
                Step::Loop(body) => {
                    let waits = body_waits(body);
                    loop {
                        if self.loop_budget == 0 {
                            return Flow::Stop;
                        }
                        self.loop_budget -= 1;
                        if self.steps(body) == Flow::Stop {
                            return Flow::Stop;
                        }
                        if !waits || self.horizon == Duration::MAX {
                            // A busy loop, or only the exit was asked for: it never ends.
                            return Flow::Stop;
                        }
                    }
                }
            }
        }
        Flow::Continue
    }
}

fn body_waits(body: &[Step]) -> bool {
    body.iter().any(|s| match s {
        Step::Sleep(Some(d)) => !d.is_zero(),
        Step::Sleep(None) => true,
        Step::Loop(inner) => body_waits(inner),
        _ => false,
    })
}

/// Why a command cannot start (upstream runc's message).
pub(crate) fn not_found(cmd: &str) -> String {
    format!(
        "failed to create containerd task: failed to create shim task: OCI runtime create \
         failed: runc create failed: unable to start container process: exec: \"{cmd}\": \
         executable file not found in $PATH: unknown"
    )
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn server(log: &str, port: u16, proto: Proto, memory: u64) -> Program {
    Program {
        steps: vec![
            Step::Log(LogStream::Stdout, log.to_owned()),
            Step::Listen(port, proto),
            Step::Sleep(None),
        ],
        on_term: OnTerm::Exit(Duration::ZERO, 0),
        base_memory: memory,
    }
}

fn sleeper(steps: Vec<Step>) -> Program {
    Program {
        steps,
        on_term: OnTerm::Ignore,
        base_memory: MIB,
    }
}

/// Parses a byte size as `stress --vm-bytes` writes it (`250M`, `1G`, `512k`, plain bytes).
fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().ok()?;
    let mult = match unit.trim_end_matches(['i', 'B']) {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[allow(
    clippy::option_option,
    reason = "outer: parsed or not; inner: a duration or forever"
)]
fn parse_seconds(s: &str) -> Option<Option<Duration>> {
    if s == "infinity" || s == "inf" {
        return Some(None);
    }
    let s = s.strip_suffix('s').unwrap_or(s);
    let secs: f64 = s.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok().map(Some)
}

/// The program `argv` starts in a container, or why it cannot start.
pub(crate) fn interpret(argv: &[String]) -> Result<Program, String> {
    let Some(first) = argv.first() else {
        return Err("no command specified".to_owned());
    };
    let rest = &argv[1..];
    match basename(first) {
        // Entrypoint wrappers that exec their arguments.
        "docker-entrypoint.sh" | "entrypoint.sh" | "tini" | "dumb-init" if !rest.is_empty() => {
            interpret(rest)
        }
        "nginx" => Ok(server(
            "/docker-entrypoint.sh: Configuration complete; ready for start up",
            80,
            Proto::Http {
                docroot: "/usr/share/nginx/html".to_owned(),
            },
            6 * MIB,
        )),
        "httpd-foreground" | "httpd" => Ok(server(
            "AH00094: Command line: 'httpd -D FOREGROUND'",
            80,
            Proto::Http {
                docroot: "/usr/local/apache2/htdocs".to_owned(),
            },
            8 * MIB,
        )),
        "redis-server" => Ok(server(
            "* Ready to accept connections tcp",
            6379,
            Proto::Tcp,
            4 * MIB,
        )),
        "pause" => Ok(Program {
            steps: vec![Step::Sleep(None)],
            on_term: OnTerm::Exit(Duration::ZERO, 0),
            base_memory: 256 << 10,
        }),
        "etcd" => Ok(server(
            "serving client traffic securely",
            2379,
            Proto::Tcp,
            40 * MIB,
        )),
        "kube-apiserver" => Ok(server(
            "Serving securely on [::]:6443",
            6443,
            Proto::Tcp,
            200 * MIB,
        )),
        "kube-controller-manager" => Ok(server(
            "Serving securely on 127.0.0.1:10257",
            10257,
            Proto::Tcp,
            50 * MIB,
        )),
        "kube-scheduler" => Ok(server(
            "Serving securely on 127.0.0.1:10259",
            10259,
            Proto::Tcp,
            30 * MIB,
        )),
        "sleep" => {
            let d = rest
                .first()
                .and_then(|s| parse_seconds(s))
                .ok_or_else(|| "sleep: invalid number".to_owned());
            match d {
                Ok(d) => Ok(sleeper(vec![Step::Sleep(d)])),
                // Busybox prints usage and exits 1.
                Err(_) => Ok(sleeper(vec![
                    Step::Log(LogStream::Stderr, "Usage: sleep [N]...".to_owned()),
                    Step::Exit(1),
                ])),
            }
        }
        "sh" | "bash" | "ash" => match rest {
            [flag, script, ..] if flag == "-c" => Ok(sleeper(script_steps(script))),
            // No script and no terminal: the shell reads EOF from stdin and exits 0.
            _ => Ok(sleeper(Vec::new())),
        },
        "stress" => {
            let bytes = rest
                .windows(2)
                .find(|w| w[0] == "--vm-bytes")
                .and_then(|w| parse_bytes(&w[1]))
                .unwrap_or(256 * MIB);
            Ok(sleeper(vec![
                Step::Log(
                    LogStream::Stdout,
                    "stress: info: [1] dispatching hogs: 0 cpu, 0 io, 1 vm, 0 hdd".to_owned(),
                ),
                Step::Sleep(Some(Duration::from_secs(1))),
                Step::Alloc(bytes),
                Step::Sleep(None),
            ]))
        }
        _ => {
            let steps = command_steps(argv);
            match steps {
                Some(steps) => Ok(sleeper(steps)),
                None => Err(not_found(first)),
            }
        }
    }
}

/// One simple command inside a script or as a container's whole command; `None` when the
/// command is unknown.
fn command_steps(words: &[String]) -> Option<Vec<Step>> {
    let (words, redirect) = split_redirect(words);
    let cmd = basename(words.first()?.as_str());
    let args = &words[1..];
    Some(match cmd {
        "echo" => {
            let text = args.join(" ");
            match redirect {
                Some(path) => vec![Step::Write(path, Some(format!("{text}\n").into_bytes()))],
                None => vec![Step::Log(LogStream::Stdout, text)],
            }
        }
        "sleep" => vec![Step::Sleep(
            args.first().and_then(|a| parse_seconds(a)).flatten(),
        )],
        "exit" => vec![Step::Exit(
            args.first().and_then(|a| a.parse().ok()).unwrap_or(0),
        )],
        "false" => vec![Step::Exit(1)],
        "touch" => args
            .iter()
            .map(|p| Step::Write(p.clone(), Some(Vec::new())))
            .collect(),
        "rm" => args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .map(|p| Step::Write(p.clone(), None))
            .collect(),
        "true" | ":" | "mkdir" | "cd" | "export" | "set" => vec![],
        "date" => vec![Step::Log(
            LogStream::Stdout,
            "Thu Jan  1 00:00:00 UTC 1970".into(),
        )],
        _ => return None,
    })
}

/// `echo x > f` → (`echo x`, `f`).
fn split_redirect(words: &[String]) -> (&[String], Option<String>) {
    match words.iter().position(|w| w == ">" || w == ">>") {
        Some(i) => (&words[..i], words.get(i + 1).cloned()),
        None => (words, None),
    }
}

/// Splits a shell script into simple commands: words (quotes honoured), separated by `;`,
/// `&&`, `||` and newlines.
pub(crate) fn split_commands(script: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let mut quote: Option<char> = None;
    let end_word = |word: &mut String, words: &mut Vec<String>, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                in_word = true;
            }
            ' ' | '\t' => end_word(&mut word, &mut words, &mut in_word),
            ';' | '\n' | '&' | '|' => {
                if (c == '&' || c == '|') && chars.peek() == Some(&c) {
                    chars.next();
                }
                end_word(&mut word, &mut words, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '>' => {
                end_word(&mut word, &mut words, &mut in_word);
                if chars.peek() == Some(&'>') {
                    chars.next();
                    words.push(">>".to_owned());
                } else {
                    words.push(">".to_owned());
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut words, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// The steps of an `sh -c` script. An unknown command prints `sh: x: not found` and sets
/// status 127; the script exits with its last command's status.
pub(crate) fn script_steps(script: &str) -> Vec<Step> {
    let commands = split_commands(script);
    let mut steps = Vec::new();
    let mut i = 0;
    let mut last_status = 0;
    while i < commands.len() {
        let cmd = &commands[i];
        if cmd.first().is_some_and(|w| w == "while") {
            // `while true; do …; done`: the body runs forever.
            let mut body = Vec::new();
            i += 1;
            while i < commands.len() && commands[i].first().is_none_or(|w| w != "done") {
                let mut words = commands[i].clone();
                if words.first().is_some_and(|w| w == "do") {
                    words.remove(0);
                }
                if !words.is_empty() {
                    body.extend(command_steps(&words).unwrap_or_else(|| unknown(&words[0])));
                }
                i += 1;
            }
            steps.push(Step::Loop(body));
            i += 1;
            continue;
        }
        match command_steps(cmd) {
            // `false` sets the status; only the last command's status ends the script.
            Some(_) if cmd[0] == "false" => last_status = 1,
            Some(s) => {
                last_status = 0;
                steps.extend(s);
            }
            None => {
                steps.extend(unknown(&cmd[0]));
                last_status = 127;
            }
        }
        i += 1;
    }
    if last_status != 0 {
        steps.push(Step::Exit(last_status));
    }
    steps
}

fn unknown(cmd: &str) -> Vec<Step> {
    vec![Step::Log(
        LogStream::Stderr,
        format!("sh: {cmd}: not found"),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn sleep_then_exit_code_is_computed_from_the_start_time() {
        let p = interpret(&argv(&["sh", "-c", "echo starting; sleep 5; exit 3"])).unwrap();
        let (events, exit) = run(&p, S(100), None, S(1000));
        assert_eq!(
            events,
            [(S(100), Event::Log(LogStream::Stdout, "starting".into()))]
        );
        assert_eq!(exit, Some(Exit::new(S(105), 3)));
        assert_eq!(run(&p, S(100), None, S(104)).1, None);
    }

    #[test]
    fn loop_prints_until_the_horizon_and_never_exits() {
        let p = interpret(&argv(&[
            "sh",
            "-c",
            "while true; do echo hi; sleep 10; done",
        ]))
        .unwrap();
        let (events, exit) = run(&p, S(0), None, S(25));
        assert_eq!(events.len(), 3);
        assert_eq!(exit, None);
        assert_eq!(natural_exit(&p, S(0), None), None);
    }

    #[test]
    fn memory_over_the_limit_is_an_oom_kill() {
        let p = interpret(&argv(&["stress", "--vm", "1", "--vm-bytes", "250M"])).unwrap();
        let exit = natural_exit(&p, S(0), Some(100 * MIB)).unwrap();
        assert_eq!((exit.at, exit.code, exit.reason), (S(1), 137, "OOMKilled"));
        assert_eq!(natural_exit(&p, S(0), Some(300 * MIB)), None);
    }

    #[test]
    fn unknown_command_cannot_start_and_unknown_script_command_is_127() {
        assert!(
            interpret(&argv(&["frobnicate"]))
                .unwrap_err()
                .contains("\"frobnicate\"")
        );
        let p = interpret(&argv(&["sh", "-c", "frobnicate"])).unwrap();
        assert_eq!(natural_exit(&p, S(0), None).unwrap().code, 127);
        let p = interpret(&argv(&["sh", "-c", "false"])).unwrap();
        assert_eq!(natural_exit(&p, S(0), None).unwrap().code, 1);
    }

    #[test]
    fn script_splitting_honours_quotes_and_redirects() {
        assert_eq!(
            split_commands("echo 'a; b' > /x && sleep 1\nls"),
            [
                argv(&["echo", "a; b", ">", "/x"]),
                argv(&["sleep", "1"]),
                argv(&["ls"])
            ]
        );
    }
}
