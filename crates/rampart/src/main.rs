//! The `rampart` binary: parse the command line, run the command, map
//! its result to an exit code.

use clap::Parser;
use rampart::commands::{access, blocklists, firewall, lists, rules, scan};
use rampart::{cli, daemon, exit, fleet_cmd, fw, import, settings};
use rampart_store::Kind;
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
        cli::Command::Rules(cli::RulesCmd::List(ref a)) => rules::list(&cli.global, a),
        cli::Command::Rules(cli::RulesCmd::Test(ref a)) => rules::test(&cli.global, a),
        cli::Command::Config(cli::ConfigCmd::Check(ref a)) => settings::check(&cli.global, a),
        cli::Command::Run(ref a) => daemon::run(&cli.global, a),
        cli::Command::Reload => fw::reload(&cli.global),
        cli::Command::Deny(ref a) => lists::deny_or_allow(&cli.global, a, Kind::Deny),
        cli::Command::Allow(ref a) => lists::deny_or_allow(&cli.global, a, Kind::Allow),
        cli::Command::Ignore(ref a) => lists::ignore(&cli.global, a),
        cli::Command::Unblock(ref a) => lists::unblock(&cli.global, a),
        cli::Command::Remove(ref a) => lists::remove(&cli.global, a),
        cli::Command::List(ref a) => lists::list(&cli.global, a),
        cli::Command::Why(ref a) => lists::why(&cli.global, a),
        cli::Command::Apply(ref a) => firewall::apply(&cli.global, a),
        cli::Command::Confirm => firewall::confirm(&cli.global),
        cli::Command::Flush(ref a) => firewall::flush(&cli.global, a),
        cli::Command::Status(ref a) => firewall::status(&cli.global, a),
        cli::Command::ShowRules(ref a) => firewall::show_rules(&cli.global, a.json),
        cli::Command::Blocklist(ref c) => blocklists::blocklist(&cli.global, c),
        cli::Command::Rollback(ref a) => firewall::rollback(&cli.global, a),
        cli::Command::Import(ref c) => import::run(&cli.global, c),
        cli::Command::Fleet(ref c) => fleet_cmd::run(&cli.global, c),
        cli::Command::Api(cli::ApiCmd::Token(ref c)) => access::token(&cli.global, c),
        cli::Command::Console(cli::ConsoleCmd::User(ref c)) => access::user(&cli.global, c),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = fw::classify(&e);
            match code {
                exit::NOPERM => eprintln!("rampart: needs root (CAP_NET_ADMIN)"),
                exit::USAGE => eprintln!("rampart: {e:#}"),
                _ => eprintln!("rampart: error: {e:#}"),
            }
            ExitCode::from(code)
        }
    }
}
