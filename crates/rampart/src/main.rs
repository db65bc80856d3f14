//! The `rampart` binary: parse the command line, run the command, map
//! its result to an exit code.

use clap::Parser;
use rampart::{cli, daemon, exit, fleet_cmd, fw, rules_cmd, scan, settings};
use std::process::ExitCode;

fn main() -> ExitCode {
    // `rampart list | head`: a closed pipe ends the output quietly, as for
    // other Unix tools, instead of a panic report.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default_hook(info);
    }));
    let cli = cli::Cli::parse();
    let r = match cli.command {
        cli::Command::Scan(ref a) => scan::run(&cli.global, a),
        cli::Command::Rules(cli::RulesCmd::List(ref a)) => rules_cmd::list(&cli.global, a),
        cli::Command::Rules(cli::RulesCmd::Test(ref a)) => rules_cmd::test(&cli.global, a),
        cli::Command::Config(cli::ConfigCmd::Check(ref a)) => settings::check(&cli.global, a),
        cli::Command::Run(ref a) => daemon::run(&cli.global, a),
        cli::Command::Reload => fw::reload(&cli.global),
        cli::Command::Deny(ref a) => fw::deny_or_allow(&cli.global, a, rampart_store::Kind::Deny),
        cli::Command::Allow(ref a) => fw::deny_or_allow(&cli.global, a, rampart_store::Kind::Allow),
        cli::Command::Ignore(ref a) => fw::ignore(&cli.global, a),
        cli::Command::Unblock(ref a) => fw::unblock(&cli.global, a),
        cli::Command::List(ref a) => fw::list(&cli.global, a),
        cli::Command::Why(ref a) => fw::why(&cli.global, a),
        cli::Command::Apply(ref a) => fw::apply(&cli.global, a),
        cli::Command::Confirm => fw::confirm(&cli.global),
        cli::Command::Flush(ref a) => fw::flush(&cli.global, a),
        cli::Command::Status(ref a) => fw::status(
            &cli.global,
            &cli::ReadArgs {
                addr: String::new(),
                json: a.json,
            },
        ),
        cli::Command::ShowRules(ref a) => fw::show_rules(&cli.global, a.json),
        cli::Command::Blocklist(ref c) => fw::blocklist(&cli.global, c),
        cli::Command::Fleet(ref c) => fleet_cmd::run(&cli.global, c),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("rampart: error: {e:#}");
            ExitCode::from(
                e.downcast_ref::<settings::ConfigErrors>()
                    .map_or(exit::SOFTWARE, |_| exit::CONFIG),
            )
        }
    }
}
