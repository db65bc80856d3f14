//! `deny`, `allow`, `ignore`, `unblock`, `remove`, `list`, `why`.

use crate::cli::{AddrArgs, DenyArgs, Global, ListArgs, ReadArgs, RemoveArgs};
use crate::exit;
use crate::fw::{Ctx, human_duration, parse_for, parse_target, ssh_client, who, with_json_errors};
use crate::settings::{self, now};
use crate::views::{
    AddView, ElementView, EntryView, ExplanationView, HistoryView, KernelWhyView, RemovedView,
    WhyView,
};
use anyhow::Result;
use rampart_core::addr::{Net, is_never_blockable};
use rampart_core::explain::{self, Reason};
use rampart_core::text::escape_controls;
use rampart_core::time::{Timestamp, format_rfc3339};
use rampart_firewall::guard::{overlaps, protected_overlap, wide};
use rampart_firewall::{Change, Expiry, Outcome, Segment};
use rampart_nft::SetList;
use rampart_store::{AddAction, Entry, Kind, ListFilter, NewEntry, Origin, Permanence, Removal};
use std::net::IpAddr;

/// Parsed `deny`/`allow`/`ignore` arguments: the change to make.
pub struct AddRequest {
    pub change: Change,
    pub net: Net,
    pub secs: Option<u64>,
}

/// `deny`/`allow`/`ignore` arguments → the entry to add (usage errors exit 2).
pub fn parse_add(
    kind: Kind,
    addr: &str,
    duration: Option<&str>,
    text: Option<&str>,
    now: Timestamp,
) -> Result<AddRequest> {
    let net = parse_target(addr)?;
    let secs = parse_for(duration)?;
    let expires = secs.map(|s| now + i64::try_from(s).unwrap_or(i64::MAX / 2));
    let mut e = NewEntry::new(kind, net, Origin::Manual, "manual", now, expires);
    let why = text.map(|t| format!(": {t}")).unwrap_or_default();
    e.summary = match kind {
        Kind::Deny => format!("Manually denied: {net}{why}"),
        Kind::Allow => format!("Manually allowed: {net}{why}"),
        Kind::Ignore => format!("Ignored by detectors: {net}{why}"),
    };
    e.comment = text.map(str::to_string);
    Ok(AddRequest {
        change: Change::Add(e),
        net,
        secs,
    })
}

/// Why `net` must not be denied without `--force`, if it must not.
fn lockout_reason(ctx: &Ctx, net: Net, now: Timestamp) -> Result<Option<String>> {
    if let Some(what) = protected_overlap(net) {
        return Ok(Some(format!("{net} overlaps {what}")));
    }
    let own = settings::own_addresses();
    if let Some(o) = own
        .iter()
        .find(|o| net.contains(o.addr) && !is_never_blockable(o.addr))
    {
        return Ok(Some(format!(
            "{net} contains this host's own address {}",
            o.addr
        )));
    }
    if let Some(c) = ssh_client()
        && net.contains(c)
    {
        return Ok(Some(format!(
            "{net} contains {c}, the SSH client running this command (you would lock yourself out)"
        )));
    }
    let f = ListFilter::default();
    for e in ctx.store.list(&f, now)? {
        if matches!(e.kind, Kind::Allow | Kind::Ignore) && overlaps(net, e.target) {
            return Ok(Some(format!(
                "{net} overlaps {} on the {} list",
                e.target, e.kind
            )));
        }
    }
    if ctx.config.ignore.iter().any(|n| overlaps(*n, net)) {
        return Ok(Some(format!(
            "{net} is ignored in the configuration ([detect] ignore)"
        )));
    }
    Ok(None)
}

/// Why adding `net` to the `kind` list needs `--force` (or the API's
/// `force`), if it does.
pub fn refusal(ctx: &Ctx, kind: Kind, net: Net, now: Timestamp) -> Result<Option<String>> {
    Ok(match kind {
        Kind::Deny => lockout_reason(ctx, net, now)?,
        Kind::Allow | Kind::Ignore => wide(net).map(|w| match kind {
            Kind::Allow => format!("{w}: every one of them would pass the firewall"),
            _ => format!("{w}: detectors would never block any of them"),
        }),
    })
}

/// Whether an add must be refused without `--force`; prints why.
fn refused(ctx: &Ctx, kind: Kind, net: Net, force: bool, now: Timestamp) -> Result<bool> {
    match refusal(ctx, kind, net, now)? {
        Some(w) if !force => {
            eprintln!(
                "rampart: refusing to {} {net}: {}. Use --force if you really mean it.",
                kind.as_str(),
                escape_controls(&w)
            );
            Ok(true)
        }
        Some(w) => {
            eprintln!("rampart: warning: {}", escape_controls(&w));
            Ok(false)
        }
        None => Ok(false),
    }
}

/// `rampart deny`, `rampart allow`.
pub fn deny_or_allow(global: &Global, a: &DenyArgs, kind: Kind) -> Result<u8> {
    with_json_errors(a.json, || {
        if a.remove {
            let kinds = vec![kind];
            return remove_entries(global, &a.addr, kinds, None, a.dry_run, a.json);
        }
        let req = parse_add(
            kind,
            &a.addr,
            a.duration.as_deref(),
            a.text.as_deref(),
            now(),
        )?;
        add(global, req, a.force, a.dry_run, a.json)
    })
}

/// `rampart ignore`.
pub fn ignore(global: &Global, a: &AddrArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        if a.remove {
            let c = a.comment.clone();
            return remove_entries(global, &a.addr, vec![Kind::Ignore], c, a.dry_run, a.json);
        }
        let req = parse_add(Kind::Ignore, &a.addr, None, a.comment.as_deref(), now())?;
        add(global, req, a.force, a.dry_run, a.json)
    })
}

fn add(global: &Global, req: AddRequest, force: bool, dry_run: bool, json: bool) -> Result<u8> {
    let mut ctx = Ctx::open(global, false)?;
    let now = now();
    let Change::Add(e) = &req.change else {
        return Ok(exit::SOFTWARE);
    };
    if refused(&ctx, e.kind, req.net, force, now)? {
        if json {
            println!(
                "{}",
                serde_json::json!({"ok": false, "refused": true, "exit": exit::FOUND_PROBLEMS})
            );
        }
        return Ok(exit::FOUND_PROBLEMS);
    }
    let out = ctx.execute(&req.change, dry_run)?;
    if dry_run {
        return Ok(exit::OK);
    }
    report_add(&out, req.secs, json, now);
    Ok(exit::OK)
}

fn until(e: &Entry) -> String {
    e.expires
        .map(|t| format!(" until {}", format_rfc3339(t)))
        .unwrap_or_else(|| ", permanent".into())
}

/// Says what holds after an add: the new entry, or the longer one kept.
fn report_add(out: &Outcome, asked: Option<u64>, json: bool, now: Timestamp) {
    let Some((action, e)) = &out.added else {
        return;
    };
    if json {
        if let Some(v) = AddView::new(out, now)
            && let Ok(text) = serde_json::to_string(&v)
        {
            println!("{text}");
        }
        return;
    }
    let verb = match e.kind {
        Kind::Deny => "Denied",
        Kind::Allow => "Allowed",
        Kind::Ignore => "Ignoring",
    };
    let net = e.target;
    match (action, e.remaining(now)) {
        (AddAction::Kept { .. }, left) => println!(
            "{net} is already on the {} list{} (longer than the {} asked): the existing entry is kept.",
            e.kind,
            left.map(|l| format!(" for {} more, until {}", human_duration(l), until_time(e)))
                .unwrap_or_else(|| " permanently".into()),
            asked.map(human_duration).unwrap_or_else(|| "time".into())
        ),
        (_, Some(left)) => println!(
            "{verb} {net} for {} (until {}).",
            human_duration(left),
            until_time(e)
        ),
        (_, None) if e.kind == Kind::Ignore => println!(
            "Ignoring {net}: detectors will never block it (the port policy still applies; use `rampart allow` to open the firewall to it)."
        ),
        (_, None) => println!("{verb} {net} permanently."),
    }
}

fn until_time(e: &Entry) -> String {
    e.expires.map(format_rfc3339).unwrap_or_default()
}

/// `rampart unblock`.
pub fn unblock(global: &Global, a: &AddrArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let net = parse_target(&a.addr)?;
        let change = Change::Unblock {
            target: net,
            removal: Removal::by(who(), a.comment.clone()),
        };
        let mut ctx = Ctx::open(global, false)?;
        let out = ctx.execute(&change, a.dry_run)?;
        if a.dry_run {
            return Ok(exit::OK);
        }
        // a running daemon forgets what it counted against the address
        let forgot = crate::ctl::request(
            &ctx.state_dir,
            &serde_json::json!({"cmd": "forget", "addr": net.to_string()}),
        )
        .is_some_and(|r| r["forgotten"].as_u64().unwrap_or(0) > 0);
        report_removed(&out, net, "deny", a.json, forgot);
        Ok(if out.removed.is_empty() {
            exit::FOUND_PROBLEMS
        } else {
            exit::OK
        })
    })
}

/// The lists named by `--deny`, `--allow` and `--ignore` (none: empty).
fn chosen_kinds(deny: bool, allow: bool, ignore: bool) -> Vec<Kind> {
    [
        (deny, Kind::Deny),
        (allow, Kind::Allow),
        (ignore, Kind::Ignore),
    ]
    .into_iter()
    .filter_map(|(on, k)| on.then_some(k))
    .collect()
}

/// `rampart remove`.
pub fn remove(global: &Global, a: &RemoveArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let mut kinds = chosen_kinds(a.deny, a.allow, a.ignore);
        if kinds.is_empty() {
            kinds = Kind::ALL.to_vec();
        }
        remove_entries(global, &a.addr, kinds, a.comment.clone(), a.dry_run, a.json)
    })
}

fn remove_entries(
    global: &Global,
    addr: &str,
    kinds: Vec<Kind>,
    comment: Option<String>,
    dry_run: bool,
    json: bool,
) -> Result<u8> {
    let net = parse_target(addr)?;
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let lists = names.join("/");
    let change = Change::Remove {
        kinds,
        target: net,
        removal: Removal::by(who(), comment),
    };
    let mut ctx = Ctx::open(global, false)?;
    let out = ctx.execute(&change, dry_run)?;
    if dry_run {
        return Ok(exit::OK);
    }
    report_removed(&out, net, &lists, json, false);
    Ok(if out.removed.is_empty() {
        exit::FOUND_PROBLEMS
    } else {
        exit::OK
    })
}

fn report_removed(out: &Outcome, net: Net, lists: &str, json: bool, forgot: bool) {
    let now = now();
    if json {
        if let Ok(text) = serde_json::to_string(&RemovedView::new(out, forgot, now)) {
            println!("{text}");
        }
        return;
    }
    if out.removed.is_empty() {
        println!("{net} was not on the {lists} list.");
    }
    for e in &out.removed {
        println!(
            "Removed {} from the {} list (was: {}).",
            e.target,
            e.kind,
            escape_controls(&e.summary)
        );
    }
    if forgot {
        println!("The daemon's failure counts for {net} were reset.");
    }
    for e in &out.still_blocking {
        println!(
            "Still blocked: {} covers {net} ({}); unblock {} to lift it.",
            e.target,
            escape_controls(&e.summary),
            e.target
        );
    }
}

/// The entries in force on the `kinds` lists (all when empty), only
/// temporary ones with `temp`.
pub fn entries(
    store: &rampart_store::Store,
    kinds: &[Kind],
    temp: bool,
    now: Timestamp,
) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for k in if kinds.is_empty() {
        &Kind::ALL[..]
    } else {
        kinds
    } {
        let f = ListFilter {
            kind: Some(*k),
            permanence: if temp {
                Permanence::Temporary
            } else {
                Permanence::Any
            },
            origin: None,
        };
        entries.extend(store.list(&f, now)?);
    }
    Ok(entries)
}

/// `rampart list`: the store's entries in force.
pub fn list(global: &Global, a: &ListArgs) -> Result<u8> {
    let ctx = Ctx::open(global, false)?;
    let now = now();
    let kinds = chosen_kinds(a.deny, a.allow, a.ignore);
    let entries = entries(&ctx.store, &kinds, a.temp, now)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&EntryView::all(&entries, now))?
        );
        return Ok(exit::OK);
    }
    if entries.is_empty() {
        println!("No entries.");
        return Ok(exit::OK);
    }
    println!(
        "{:<6} {:<28} {:<10} {:<12} {:<10} reason",
        "kind", "target", "origin", "expires in", "since"
    );
    for e in &entries {
        let left = e
            .remaining(now)
            .map(human_duration)
            .unwrap_or_else(|| "permanent".into());
        println!(
            "{:<6} {:<28} {:<10} {:<12} {:<10} {}",
            e.kind.as_str(),
            e.target.to_string(),
            e.origin.as_str(),
            left,
            &format_rfc3339(e.since)[..10],
            escape_controls(&e.summary)
        );
    }
    Ok(exit::OK)
}

/// What the kernel does with an address: the elements holding it, and
/// the verdict.
struct KernelView {
    loaded: bool,
    hits: Vec<(SetList, Segment)>,
    blocked: bool,
}

fn kernel_view(ctx: &mut Ctx, ip: IpAddr, now: Timestamp) -> Result<KernelView> {
    let mut hits = Vec::new();
    let mut loaded = true;
    let lists = ctx.kernel.layout().lists();
    for l in lists {
        match ctx.kernel.read(&l, now)? {
            None => loaded = false,
            Some(v) => {
                if let Some(s) = v.into_iter().find(|s| s.contains(ip)) {
                    hits.push((l, s));
                }
            }
        }
    }
    let inbound = |name: &str| {
        ctx.kernel
            .layout()
            .blocklists
            .iter()
            .any(|d| d.name == name && d.direction != "out")
    };
    let allowed = hits.iter().any(|(l, _)| *l == SetList::Allow);
    let dropped = hits.iter().any(|(l, _)| match l {
        SetList::Deny | SetList::CountryDeny => true,
        SetList::Blocklist(n) => inbound(n),
        _ => false,
    });
    let country_allow = !ctx.config.country.allow.is_empty()
        && !hits.iter().any(|(l, _)| *l == SetList::CountryAllow);
    Ok(KernelView {
        loaded,
        blocked: loaded && !allowed && (dropped || country_allow),
        hits,
    })
}

fn segment_text(s: &Segment, now: Timestamp) -> String {
    match s.expiry {
        Expiry::Never => format!("{} (permanent)", s.range()),
        Expiry::At(t) => format!(
            "{} ({} left)",
            s.range(),
            human_duration(u64::try_from(t - now).unwrap_or(0))
        ),
    }
}

fn reason_record<'a>(reasons: &'a [Reason], code: &str) -> Option<&'a Reason> {
    reasons.iter().find(|r| r.code == code)
}

/// `rampart why`: exit 0 when the kernel blocks the address, 1 when not.
pub fn why(global: &Global, a: &ReadArgs) -> Result<u8> {
    with_json_errors(a.json, || {
        let mut ctx = Ctx::open(global, false)?;
        let (ip, reference) = match crate::daemon::messenger::refcode::parse(&a.addr) {
            Some((id, chk)) => {
                let (net, text) = resolve_reference(&ctx, id, &chk)?;
                (net.addr, Some(text))
            }
            None => (parse_target(&a.addr)?.addr, None),
        };
        if let Some(r) = reference.as_ref().filter(|_| !a.json) {
            println!("{r}");
        }
        let now = now();
        let kv = kernel_view(&mut ctx, ip, now)?;
        let store = StoreView::read(&ctx, ip, now)?;
        if a.json {
            let v = why_view(&ctx, ip, &kv, &store, now);
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print_why(ip, &kv, &store, now);
        }
        Ok(if kv.blocked {
            exit::OK
        } else {
            exit::FOUND_PROBLEMS
        })
    })
}

/// The block a messenger reference code names (in force or ended), and
/// a line saying which; a code that names no record is a usage error.
fn resolve_reference(ctx: &Ctx, id: i64, chk: &str) -> Result<(Net, String)> {
    use crate::daemon::messenger::refcode;
    let code = format!("RMP-{id}-{chk}");
    if let Some(e) = ctx.store.get(id)?
        && refcode::matches(chk, id, e.target, e.created)
    {
        return Ok((
            e.target,
            format!(
                "Reference {code}: the {} entry of {} (in force).",
                e.kind, e.target
            ),
        ));
    }
    let ended = ctx.store.history_of_entry(id)?;
    match ended
        .iter()
        .find(|h| refcode::matches(chk, id, h.entry.target, h.entry.created))
    {
        Some(h) => Ok((
            h.entry.target,
            format!(
                "Reference {code}: the {} entry of {} (ended {}: {}{}).",
                h.entry.kind,
                h.entry.target,
                format_rfc3339(h.ended),
                h.end,
                h.by.as_deref()
                    .map(|b| format!(" by {}", escape_controls(b)))
                    .unwrap_or_default()
            ),
        )),
        None => Err(crate::fw::Usage(format!(
            "{code} is not a reference code of this server's blocks"
        ))
        .into()),
    }
}

/// What the store (and the configuration) say about an address.
struct StoreView {
    entries: Vec<Entry>,
    history: Vec<rampart_store::HistoryRecord>,
    lists: Vec<String>,
    country: Option<String>,
    country_blocked: bool,
    blocked: bool,
    counts: Option<serde_json::Value>,
}

impl StoreView {
    fn read(ctx: &Ctx, ip: IpAddr, now: Timestamp) -> Result<StoreView> {
        let entries = ctx.store.covering(ip, now)?;
        let history = ctx.store.history_for(ip)?;
        let mut lists = Vec::new();
        for d in &ctx.kernel.layout().blocklists {
            if let Ok(Some(set)) = rampart_firewall::blocklist::cached_set(&ctx.state_dir, d)
                && set.contains(ip)
            {
                lists.push(d.name.clone());
            }
        }
        let info = rampart_firewall::country_db(ctx.config.country.database.as_deref())
            .ok()
            .flatten()
            .and_then(|db| db.country_of(ip).ok().flatten());
        let cc = info.as_ref().map(|c| c.code.to_string());
        let denied = cc
            .as_ref()
            .is_some_and(|c| ctx.config.country.deny.contains(c));
        let not_allowed = !ctx.config.country.allow.is_empty()
            && cc
                .as_ref()
                .is_none_or(|c| !ctx.config.country.allow.contains(c));
        let allowed = entries.iter().any(|e| e.kind == Kind::Allow);
        let denied_entry = entries.iter().any(|e| e.kind == Kind::Deny);
        let counts = crate::ctl::request(
            &ctx.state_dir,
            &serde_json::json!({"cmd": "counts", "addr": ip.to_string()}),
        )
        .and_then(|r| r.get("counts").cloned());
        Ok(StoreView {
            blocked: !allowed && (denied_entry || !lists.is_empty() || denied || not_allowed),
            entries,
            history,
            lists,
            country: info.map(|c| c.to_string()),
            country_blocked: denied || not_allowed,
            counts,
        })
    }
}

/// What `why --json` (and `GET /api/v1/why/ADDR`) says about `ip`.
pub fn why_of(ctx: &mut Ctx, ip: IpAddr) -> Result<WhyView> {
    let now = now();
    let kv = kernel_view(ctx, ip, now)?;
    let store = StoreView::read(ctx, ip, now)?;
    Ok(why_view(ctx, ip, &kv, &store, now))
}

fn why_view(ctx: &Ctx, ip: IpAddr, kv: &KernelView, s: &StoreView, now: Timestamp) -> WhyView {
    let reasons = explain::builtin();
    let explanations = s
        .entries
        .iter()
        .filter(|e| e.kind == Kind::Deny)
        .filter_map(|e| reason_record(&reasons, &e.reason))
        .map(|r| ExplanationView {
            reason: r.code.clone(),
            title: r.title.clone(),
            explanation: r.explanation.clone(),
            remedy: r.remedy.clone(),
        })
        .collect();
    let elements = kv
        .hits
        .iter()
        .map(|(l, seg)| ElementView {
            list: rampart_firewall::list_name(l),
            element: seg.range().to_string(),
            expires: seg.expiry.as_option().map(format_rfc3339),
        })
        .collect();
    WhyView {
        address: ip.to_string(),
        blocked: kv.blocked,
        kernel: KernelWhyView {
            table_loaded: kv.loaded,
            blocked: kv.blocked,
            elements,
        },
        store_blocked: s.blocked,
        agree: kv.blocked == s.blocked,
        detector_counts: s.counts.clone(),
        allowed: s.entries.iter().any(|e| e.kind == Kind::Allow),
        ignored: s.entries.iter().any(|e| e.kind == Kind::Ignore),
        entries: EntryView::all(&s.entries, now),
        blocklists: s.lists.clone(),
        country: s.country.clone(),
        country_blocked: s.country_blocked,
        explanations,
        history: s.history.iter().map(|h| HistoryView::new(h, now)).collect(),
        state_dir: ctx.state_dir.display().to_string(),
    }
}

fn print_why(ip: IpAddr, kv: &KernelView, s: &StoreView, now: Timestamp) {
    let cstr = s
        .country
        .as_ref()
        .map(|c| format!(" ({})", escape_controls(c)))
        .unwrap_or_default();
    let verdict = if kv.blocked {
        "is BLOCKED"
    } else {
        "is not blocked"
    };
    println!("{ip}{cstr} {verdict}.");
    if !kv.loaded {
        println!(
            "  kernel: table inet rampart is not loaded (nothing is blocked; `rampart apply` loads it)"
        );
    }
    for (l, seg) in &kv.hits {
        println!(
            "  kernel: in the {} set: {}",
            rampart_firewall::list_name(l),
            segment_text(seg, now)
        );
    }
    if kv.loaded && kv.hits.is_empty() {
        println!("  kernel: in no set of table inet rampart");
    }
    println!(
        "  store: {}",
        if s.blocked { "blocked" } else { "not blocked" }
    );
    if kv.blocked != s.blocked {
        println!(
            "  THE KERNEL AND THE STORE DISAGREE: `rampart apply` makes the kernel follow the store"
        );
    }
    print_store_entries(s);
}

fn print_store_entries(s: &StoreView) {
    let reasons = explain::builtin();
    for e in &s.entries {
        println!();
        println!(
            "  {} — {} entry {} (origin {}) since {}{}",
            escape_controls(&e.summary),
            e.kind,
            e.target,
            e.origin,
            format_rfc3339(e.since),
            until(e)
        );
        if let Some(r) = &e.rule {
            println!("  rule: {}", escape_controls(r));
        }
        if !e.evidence.is_empty() {
            println!("  evidence:");
            for l in &e.evidence {
                println!("    | {}", escape_controls(l));
            }
        }
        if e.kind == Kind::Deny
            && let Some(r) = reason_record(&reasons, &e.reason)
        {
            println!("  What happened: {}", r.explanation);
            println!("  What to do: {}", r.remedy);
        }
    }
    for l in &s.lists {
        println!("  listed in blocklist {l} (known-malicious addresses)");
    }
    if s.country_blocked {
        println!("  its country is blocked ([country] deny / allow)");
    }
    match s.counts.as_ref().and_then(|c| c.as_array()) {
        Some(list) if !list.is_empty() => {
            println!("  the running daemon has counted against it:");
            for c in list {
                println!(
                    "    {} failure(s) for {} (a ban at {} within {} s; last {})",
                    c["count"],
                    escape_controls(c["group"].as_str().unwrap_or("")),
                    c["threshold"],
                    c["window_secs"],
                    escape_controls(c["last_seen"].as_str().unwrap_or(""))
                );
            }
        }
        Some(_) => println!("  the running daemon has counted nothing against it"),
        None => {}
    }
    if !s.history.is_empty() {
        println!("\n  earlier entries:");
        for h in s.history.iter().take(10) {
            let by =
                h.by.as_deref()
                    .map(|b| format!(" by {}", escape_controls(b)))
                    .unwrap_or_default();
            let note = h
                .comment
                .as_deref()
                .map(|c| format!(": {}", escape_controls(c)))
                .unwrap_or_default();
            println!(
                "    {} {} — ended {} ({}{by}{note})",
                h.entry.kind,
                escape_controls(&h.entry.summary),
                format_rfc3339(h.ended),
                h.end.as_str()
            );
        }
    }
}
