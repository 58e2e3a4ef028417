//! The global flags that say where requests go and how they are protected: endpoints, the
//! context and its file, TLS files, the token file, plaintext.
//!
//! Each flag also reads an environment variable (clap: the flag wins). What neither gives
//! comes from the context (`crate::settings`), then from the defaults. The token itself
//! has no flag, only `MOOR_TOKEN`: a flag's value shows in `ps` to every user of the host.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

use super::values::{parse_context_name, parse_endpoint, parse_path, parse_server_name};

/// Where requests go and how they are protected.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnArgs {
    /// Members to send requests to, as comma-separated host:port of their client listeners
    /// (any member serves any request; the next one is tried when one is unreachable or has
    /// no leader) [default: the context's endpoints, else 127.0.0.1:7401]
    #[arg(
        long,
        global = true,
        env = "MOOR_ENDPOINTS",
        value_delimiter = ',',
        value_name = "HOST:PORT,...",
        value_parser = parse_endpoint
    )]
    pub endpoints: Option<Vec<String>>,

    /// The context to use, from the config file [default: the file's current_context]
    #[arg(
        long,
        global = true,
        env = "MOORCTL_CONTEXT",
        value_name = "NAME",
        value_parser = parse_context_name
    )]
    pub context: Option<String>,

    /// moorctl's config file (contexts) [default: $XDG_CONFIG_HOME/moor/moorctl.yaml, else
    /// ~/.config/moor/moorctl.yaml]
    #[arg(
        long,
        global = true,
        env = "MOORCTL_CONFIG",
        value_name = "FILE",
        value_parser = parse_path
    )]
    pub config: Option<PathBuf>,

    /// PEM file of the CA that signs the members' certificates (TLS)
    #[arg(long, global = true, env = "MOOR_CA_FILE", value_name = "FILE", value_parser = parse_path)]
    pub ca_file: Option<PathBuf>,

    /// PEM file of a client certificate, to authenticate by certificate (with --key-file)
    #[arg(
        long,
        global = true,
        env = "MOOR_CERT_FILE",
        value_name = "FILE",
        requires = "key_file",
        value_parser = parse_path
    )]
    pub cert_file: Option<PathBuf>,

    /// PEM file of the client certificate's private key (with --cert-file)
    #[arg(
        long,
        global = true,
        env = "MOOR_KEY_FILE",
        value_name = "FILE",
        requires = "cert_file",
        value_parser = parse_path
    )]
    pub key_file: Option<PathBuf>,

    /// File holding the bearer token sent with every request (or the token itself in
    /// MOOR_TOKEN; there is no flag for the token, flags show in `ps`)
    #[arg(
        long,
        global = true,
        env = "MOOR_TOKEN_FILE",
        value_name = "FILE",
        value_parser = parse_path
    )]
    pub token_file: Option<PathBuf>,

    /// Check the members' certificates against this name instead of each endpoint's host
    #[arg(
        long,
        global = true,
        env = "MOOR_TLS_SERVER_NAME",
        value_name = "NAME",
        value_parser = parse_server_name
    )]
    pub tls_server_name: Option<String>,

    /// Talk to members without TLS: anyone on the network path can read and change every
    /// request, token included. Only for members started without TLS, on a trusted network
    #[arg(
        long,
        global = true,
        env = "MOOR_INSECURE_PLAINTEXT",
        conflicts_with_all = ["ca_file", "cert_file", "key_file", "tls_server_name"]
    )]
    pub insecure_plaintext: bool,

    /// The ids of the flags above given on the command line (not by the environment), for
    /// `config set-context`, which records only what it is told on its command line.
    #[arg(skip)]
    pub on_command_line: BTreeSet<&'static str>,
}

impl ConnArgs {
    /// The ids of the flags `config set-context` may record.
    const RECORDED: [&'static str; 6] = [
        "endpoints",
        "ca_file",
        "cert_file",
        "key_file",
        "token_file",
        "insecure_plaintext",
    ];

    /// Notes which of [`ConnArgs::RECORDED`] `matches` got from the command line.
    pub(super) fn note_command_line(&mut self, matches: &ArgMatches) {
        self.on_command_line = Self::RECORDED
            .into_iter()
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
    }

    /// True when the flag `id` (a field name) was given on the command line.
    pub fn given(&self, id: &str) -> bool {
        self.on_command_line.contains(id)
    }

    /// True when any TLS flag (or its variable) was given: it asks for TLS even when the
    /// context says plaintext.
    pub fn asks_for_tls(&self) -> bool {
        self.ca_file.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.tls_server_name.is_some()
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
