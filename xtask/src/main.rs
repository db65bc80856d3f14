//! `cargo xtask dist DIR`: the files a system package carries that are
//! generated from `rampart`'s clap definitions, so they cannot drift from
//! the command line:
//!
//! - `DIR/man/rampart.8` and one page per subcommand (`rampart-scan.8`,
//!   `rampart-rules-test.8`, ...), with clap_mangen;
//! - `DIR/completions/rampart.bash`, `_rampart` (zsh) and `rampart.fish`,
//!   with clap_complete.
//!
//! Why a separate build helper rather than a hidden `rampart generate-man`
//! subcommand: the generators stay out of the installed binary (smaller,
//! fewer dependencies on a firewall host), the package is built from files
//! that exist before `cargo deb` runs, and the output is the same on every
//! machine (no runtime state involved). `dist/build-deb.sh` runs it.

use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, dir] if cmd == "dist" => dist(Path::new(dir)),
        _ => bail!("usage: cargo xtask dist DIR"),
    }
}

fn dist(dir: &Path) -> Result<()> {
    let mut cmd = rampart::cli::Cli::command();
    // propagate global options (--config, --state-dir) into subcommands
    cmd.build();
    let man = dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    let mut pages = Vec::new();
    man_pages(&cmd, "rampart", &man, &mut pages)?;
    let comp = dir.join("completions");
    std::fs::create_dir_all(&comp)?;
    for (shell, file) in [
        (Shell::Bash, "rampart.bash"),
        (Shell::Zsh, "_rampart"),
        (Shell::Fish, "rampart.fish"),
    ] {
        let mut out = std::fs::File::create(comp.join(file))?;
        clap_complete::generate(shell, &mut cmd.clone(), "rampart", &mut out);
    }
    println!(
        "{} man pages in {}, completions in {}",
        pages.len(),
        man.display(),
        comp.display()
    );
    Ok(())
}

/// Writes `name.8` for `cmd`, then one page per visible subcommand,
/// recursively (`rampart-blocklist-add.8`).
fn man_pages(cmd: &clap::Command, name: &str, dir: &Path, pages: &mut Vec<PathBuf>) -> Result<()> {
    // clap names are 'static without its `string` feature; this process is short
    let static_name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let page = clap_mangen::Man::new(cmd.clone().name(static_name))
        .title(name.to_uppercase())
        .section("8")
        .manual("System Administration")
        .source(format!("rampart {}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(format!("{name}.8"));
    let mut buf = Vec::new();
    page.render(&mut buf)?;
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    pages.push(path);
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), dir, pages)?;
    }
    Ok(())
}
