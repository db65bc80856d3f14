#!/usr/bin/env bash
# Detection accuracy on the workplace's labelled corpus (fail2ban's sample
# lines; not part of this repository): the official scorer over the groups
# the corpus README lists, then the same numbers with the lines whose label
# contradicts itself (one identical line labelled both attack and benign)
# set aside.
#
#   bench/accuracy.sh [SHARED_DIR]     # default ../shared
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${1:-../shared}
GROUPS_LIST="sshd,dropbear,selinux-ssh,zzz-sshd-obsolete-multiline,exim,exim-spam,postfix,sendmail-auth,sendmail-reject,qmail,courier-smtp,dovecot,courier-auth,cyrus-imap,uwimap-auth,solid-pop3d,sieve,pure-ftpd,proftpd,vsftpd,wuftpd,roundcube-auth,horde,squirrelmail,sogo-auth,openwebmail,webmin-auth,directadmin,apache-modsecurity,apache-auth,nginx-http-auth,lighttpd-auth,apache-botsearch,nginx-botsearch,apache-noscript,apache-overflows,php-url-fopen,apache-shellshock,nginx-bad-request,suhosin,named-refused,portsentry,scanlogd"
cargo build --release -q -p rampart
export RAMPART_CONFIG=/dev/null
python3 "$SHARED/eval/eval_corpus.py" --corpus "$SHARED/corpus/fail2ban-samples.jsonl" \
    --bin target/release/rampart --only "$GROUPS_LIST" "${@:2}"
python3 bench/accuracy_adjusted.py "$SHARED/corpus/fail2ban-samples.jsonl" "$GROUPS_LIST" target/release/rampart
