//! The HTML pages, from minijinja templates (HTML-escaped; the only
//! unescaped output is the page's own script). Small: one request per
//! page, styles and script inline, no external resource but the
//! configured logo.

use minijinja::{Environment, Value, context};
use rampart_core::config::messenger::Contact;
use serde::Serialize;

use super::i18n::{Messages, text as text_of};
use super::lookup::View;

const PAGE: &str = include_str!("templates/page.html");
const RESULT: &str = include_str!("templates/result.html");
const CONTACT: &str = include_str!("templates/contact.html");
const SCRIPT: &str = include_str!("templates/pow.js");

/// The provider's contact as templates see it.
#[derive(Debug, Clone, Default, Serialize)]
struct ContactView {
    text: Option<String>,
    name: Option<String>,
    url: Option<String>,
    email: Option<String>,
    logo: Option<String>,
}

/// The compiled templates and the contact.
pub struct Pages {
    env: Environment<'static>,
    contact: ContactView,
}

/// A self-unblock offer: the challenge and its difficulty.
pub struct Offer {
    /// The challenge.
    pub challenge: String,
    /// Leading zero bits.
    pub difficulty: u8,
}

impl Pages {
    /// Compiles the templates.
    pub fn new(contact: &Contact) -> anyhow::Result<Pages> {
        let mut env = Environment::new();
        env.add_template("page.html", PAGE)?;
        env.add_template("result.html", RESULT)?;
        env.add_template("contact.html", CONTACT)?;
        env.add_filter("utc", |s: String| s.replace('T', " ").replace('Z', " UTC"));
        let c = contact.clone();
        Ok(Pages {
            env,
            contact: ContactView {
                text: c.text,
                name: c.name,
                url: c.url,
                email: c.email,
                logo: c.logo,
            },
        })
    }

    /// The page for `view`.
    pub fn page(&self, lang: &str, t: &Messages, view: &View, offer: Option<&Offer>) -> String {
        let ctx = context! {
            lang, t, view => Value::from(minijinja::value::Serde(view)),
            contact => Value::from(minijinja::value::Serde(&self.contact)), script => SCRIPT,
            challenge => offer.map(|o| o.challenge.as_str()),
            difficulty => offer.map(|o| o.difficulty),
        };
        self.render("page.html", ctx)
    }

    /// A result page (`ok`: unblocked).
    pub fn result(
        &self,
        lang: &str,
        t: &Messages,
        ok: bool,
        text: &str,
        reference: Option<&str>,
    ) -> String {
        let heading = text_of(
            t,
            if ok {
                "unblocked_title"
            } else {
                "refused_title"
            },
        );
        let contact = Value::from(minijinja::value::Serde(&self.contact));
        let ctx = context! { lang, t, ok, heading, text, reference, contact };
        self.render("result.html", ctx)
    }

    fn render(&self, name: &str, ctx: Value) -> String {
        match self.env.get_template(name).and_then(|tpl| tpl.render(ctx)) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("messenger: cannot render {name}: {e}");
                String::from(
                    "<!doctype html><title>Blocked</title><p>Your address is blocked by this server's firewall.</p>",
                )
            }
        }
    }
}
