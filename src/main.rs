//! The `actgate` command line: parse, then call the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod cli;

#[derive(Parser)]
#[command(
    name = "actgate",
    version,
    about = "Identity gateway for AI agents: SPIFFE mTLS in, delegated tokens out, A2A forwarded"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole flow on this machine: dev PKI, gateway, example agents, real calls.
    Demo(cli::demo::DemoArgs),
    /// Run the gateway from a config file.
    Serve {
        /// Path to the TOML config.
        #[arg(long, short)]
        config: PathBuf,
        /// Worker threads (default: one per CPU core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run the egress sidecar: a local agent calls peers over plain HTTP on
    /// loopback; actgate calls the remote gateway over mTLS with the agent's
    /// workload certificate.
    Egress {
        /// Path to the TOML config (with an [egress] section).
        #[arg(long, short)]
        config: PathBuf,
        /// Worker threads (default: one per CPU core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Run the built-in example A2A agent alone (an upstream for benchmarks and experiments).
    ExampleAgent {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: std::net::SocketAddr,
        /// Agent Card to serve. Default `agent-cards/scheduler.json`, or
        /// when it does not exist the copy built into actgate.
        #[arg(long)]
        card: Option<PathBuf>,
        /// Pause between streamed SSE events, in milliseconds.
        #[arg(long, default_value_t = 150)]
        stream_step_ms: u64,
        /// Worker threads (default: one per CPU core).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Policy tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Token tools.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Signing keys (token and card keys).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Development certificates.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Certificate authority directories for workload certificates.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Workload certificates (X509-SVIDs): issue, inspect, revoke, renew.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Sign and write the CRL(s) of a CA directory's revoked serials.
    Crl(cli::ca::CrlArgs),
    /// Human approvals: list, show, approve or deny, through the admin listener.
    Approvals {
        #[command(subcommand)]
        command: cli::approvals::ApprovalsCommand,
    },
    /// SPIFFE trust bundles.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// The shared PostgreSQL state (`[state] backend = "postgres"`):
    /// migrate its schema, check that it is reachable.
    State {
        #[command(subcommand)]
        command: cli::state::StateCommand,
    },
    /// The tamper-evident audit log: verify its hash chain, query it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the shell completion script for SHELL, e.g.
    /// `actgate completions bash > /etc/bash_completion.d/actgate`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `actgate man | man -l -`; with
    /// --out-dir, write actgate.1 and one page per subcommand there.
    Man {
        /// Write every page into this (existing) directory instead.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain across files (oldest first); name the first record
    /// that was changed, removed, reordered or truncated (exit 1).
    Verify(cli::audit::VerifyArgs),
    /// Records by caller, actor, agent, subject, decision and time.
    Query(cli::audit::QueryArgs),
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create a CA directory: root (and optional intermediate), bundle.pem,
    /// ca.toml, revoked.json. Existing keys are never overwritten without --force.
    Init(cli::ca::InitArgs),
}

#[derive(Subcommand)]
enum CertCommand {
    /// Issue an X509-SVID from a CA directory.
    Issue(cli::cert::IssueArgs),
    /// Show a certificate and every way it breaks the X509-SVID rules
    /// (exit 0: no findings, 1: findings, 2: unreadable).
    Inspect(cli::cert::InspectArgs),
    /// Record a certificate's serial as revoked (publish with `actgate crl`).
    Revoke(cli::cert::RevokeArgs),
    /// Re-issue a certificate's SPIFFE ID and SANs with a new key.
    Renew(cli::cert::RenewArgs),
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Write a CA directory's roots as a SPIFFE bundle (JWK Set JSON).
    Export(cli::bundle::ExportArgs),
    /// Convert a SPIFFE bundle (or PEM bundle) to PEM.
    Import(cli::bundle::ImportArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config and every file it names, and fetch the keys of
    /// every `[[subject_issuer]]` keyed by `jwks_uri` or `discovery`; exit 1
    /// on any problem.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Do not fetch issuer keys (CI without network to the IdPs).
        #[arg(long)]
        offline: bool,
    },
    /// Print the JSON Schema of the config file, for editors (Taplo / Even
    /// Better TOML) and validators. It checks the shape (keys, types,
    /// values); `config check` checks the rest.
    Schema {
        /// The egress sidecar's config file instead of the gateway's.
        #[arg(long)]
        egress: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// What the gateway would decide for one call: the decision, the rule
    /// that decided it, and the scopes the minted token would carry
    /// (exit 0: forwarded, 1: not forwarded, 2: bad question or config).
    Check(cli::policy::CheckArgs),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a JWT's header and claims; with --jwks, verify its signature.
    Decode(cli::token::DecodeArgs),
    /// Sign a JWT with a local key, as a test identity provider would (for
    /// trying delegated calls and benchmarks).
    Sign(cli::token::SignArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a signing key (PKCS#8 PEM): for `[tokens]` or `[cards]`,
    /// never the same file for both.
    Generate(cli::certs::KeyArgs),
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a development PKI: CA, gateway certificate, token signing key,
    /// card signing key, demo identity-provider key, and workload certificates
    /// for the example agents.
    Init(cli::certs::InitArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    // serve and egress set up logging from their config file, demo with its
    // own default level.
    if !matches!(
        args.command,
        Command::Serve { .. } | Command::Egress { .. } | Command::Demo(_)
    ) {
        cli::init_logging();
    }
    let result = match args.command {
        Command::Demo(a) => cli::demo::run(a),
        Command::Serve { config, threads } => cli::serve::serve(&config, threads),
        Command::Egress { config, threads } => cli::egress::run(&config, threads),
        Command::ExampleAgent {
            listen,
            card,
            stream_step_ms,
            threads,
        } => cli::serve::example_agent(listen, card.as_deref(), stream_step_ms, threads),
        Command::Config {
            command: ConfigCommand::Check { config, offline },
        } => cli::serve::check(&config, offline),
        Command::Config {
            command: ConfigCommand::Schema { egress },
        } => cli::docs::config_schema(egress),
        Command::Completions { shell } => cli::docs::completions(shell, Args::command()),
        Command::Man { out_dir } => cli::docs::man(Args::command(), out_dir.as_deref()),
        Command::Policy {
            command: PolicyCommand::Check(a),
        } => cli::policy::check(a),
        Command::Token {
            command: TokenCommand::Decode(a),
        } => cli::token::decode(a),
        Command::Token {
            command: TokenCommand::Sign(a),
        } => cli::token::sign(a),
        Command::Keys {
            command: KeysCommand::Generate(a),
        } => cli::certs::generate_key(a),
        Command::Certs {
            command: CertsCommand::Init(a),
        } => cli::certs::init(a),
        Command::Ca {
            command: CaCommand::Init(a),
        } => cli::ca::init(a),
        Command::Cert { command } => match command {
            CertCommand::Issue(a) => cli::cert::issue(a),
            CertCommand::Inspect(a) => cli::cert::inspect(a),
            CertCommand::Revoke(a) => cli::cert::revoke(a),
            CertCommand::Renew(a) => cli::cert::renew(a),
        },
        Command::Crl(a) => cli::ca::crl(a),
        Command::Approvals { command } => cli::approvals::run(command),
        Command::State { command } => cli::state::run(command),
        Command::Bundle { command } => match command {
            BundleCommand::Export(a) => cli::bundle::export(a),
            BundleCommand::Import(a) => cli::bundle::import(a),
        },
        Command::Audit { command } => match command {
            AuditCommand::Verify(a) => cli::audit::verify(a),
            AuditCommand::Query(a) => cli::audit::query(a),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
