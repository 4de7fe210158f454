//! The deployment files under `deploy/` keep agreeing with each other and
//! with the daemon, so that they cannot rot silently.
//!
//! No container engine or Synapse is needed: the files are parsed and their
//! fields that matter are checked — images, the config mount and
//! `SYNAPSE_WARDEN_CONFIG`, the data volume, secrets, health checks and
//! probes, the non-root user, one replica with the Recreate strategy, the
//! NetworkPolicy that admits only Synapse and the monitoring namespace — and
//! the policy file they ship is read with the project's own parser, whose
//! secrets must all be mounted (or set in the environment) by every
//! deployment. `scripts/podman-check` runs the image for real.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use synapse_warden::core::policy::{self, Config, SecretSource};

/// Where the image and every manifest keep the daemon's state.
const DATA_DIR: &str = "/var/lib/synapse-warden";
/// Where the policy file is mounted, and `SYNAPSE_WARDEN_CONFIG`.
const CONFIG_PATH: &str = "/etc/synapse-warden/policies.yaml";
/// The image's non-root user and group.
const UID: u64 = 10001;
/// Port of `/health`, `/ready` and `/metrics`.
const HTTP_PORT: u64 = 9655;
/// The image every deployment runs.
const IMAGE: &str = "synapse-warden:latest";
/// Where Compose mounts secrets, and the Deployment its Secret.
const SECRETS_DIR: &str = "/run/secrets";

// ---- helpers ----------------------------------------------------------------

fn deploy_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(relative)
}

fn read(relative: &str) -> String {
    let path = deploy_path(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every YAML document of a file.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("deploy/{relative}: bad YAML: {e}"))
        .into_iter()
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The single YAML document of a file.
fn yaml_document(relative: &str) -> Value {
    let mut docs = yaml_documents(relative);
    assert_eq!(
        docs.len(),
        1,
        "deploy/{relative}: expected one YAML document"
    );
    docs.remove(0)
}

/// The value at a dotted path (`spec.template.spec`), or a panic naming it.
fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    try_at(value, path).unwrap_or_else(|| panic!("missing `{path}` in {value:?}"))
}

fn try_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

fn str_at<'a>(value: &'a Value, path: &str) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("`{path}` is not a string"))
}

fn u64_at(value: &Value, path: &str) -> u64 {
    at(value, path)
        .as_u64()
        .unwrap_or_else(|| panic!("`{path}` is not an unsigned integer"))
}

fn seq_at<'a>(value: &'a Value, path: &str) -> &'a [Value] {
    at(value, path)
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("`{path}` is not a list"))
}

fn strings(values: &[Value]) -> Vec<&str> {
    values
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("{v:?} is not a string"))
        })
        .collect()
}

/// The list item whose `name` is `name`.
fn named<'a>(items: &'a [Value], name: &str) -> &'a Value {
    items
        .iter()
        .find(|item| item.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no item named {name:?} in {items:?}"))
}

/// A policy file's text, parsed by the daemon's own parser.
fn parse_policies(name: &str, text: &str) -> Config {
    policy::parse(name, text).unwrap_or_else(|e| panic!("{name} does not parse:\n{e}"))
}

/// The secrets a policy file reads: files (by path) and environment
/// variables (by name).
#[derive(Debug, Default)]
struct Secrets {
    files: BTreeSet<PathBuf>,
    env: BTreeSet<String>,
}

fn secrets_of(config: &Config) -> Secrets {
    let mut sources = vec![&config.synapse.token];
    sources.extend(config.http.module_secret.iter());
    if let Some(matrix) = &config.matrix {
        sources.extend(matrix.password.iter());
        sources.extend(matrix.access_token.iter());
        sources.push(&matrix.store_passphrase);
        sources.extend(matrix.recovery_key.iter());
    }
    let mut secrets = Secrets::default();
    for source in sources {
        match source {
            SecretSource::File(path) => {
                secrets.files.insert(path.clone());
            }
            SecretSource::Env(name) => {
                secrets.env.insert(name.clone());
            }
        }
    }
    secrets
}

/// The policies shipped with the container deployments.
fn shipped_policies() -> Config {
    parse_policies("deploy/policies.yaml", &read("policies.yaml"))
}

/// Names of the secret files under [`SECRETS_DIR`] the shipped policies read.
fn shipped_secret_names() -> BTreeSet<String> {
    secrets_of(&shipped_policies())
        .files
        .iter()
        .map(|path| {
            assert_eq!(
                path.parent(),
                Some(Path::new(SECRETS_DIR)),
                "deploy/policies.yaml: secret file {} is not directly under {SECRETS_DIR}",
                path.display()
            );
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_else(|| panic!("odd secret path {}", path.display()))
                .to_owned()
        })
        .collect()
}

// ---- the policy file ---------------------------------------------------------

#[test]
fn shipped_policies_parse_and_keep_state_on_the_data_volume() {
    let config = shipped_policies();
    let matrix = config
        .matrix
        .as_ref()
        .expect("deploy/policies.yaml configures the bot (`matrix:`)");
    assert!(
        matrix.data_dir.starts_with(DATA_DIR),
        "matrix.data_dir {} is not on the data volume {DATA_DIR}",
        matrix.data_dir.display()
    );
    let secrets = secrets_of(&config);
    assert!(
        secrets.env.is_empty(),
        "the container deployments mount secrets as files; {:?} are environment variables",
        secrets.env
    );
    let names = shipped_secret_names();
    for expected in [
        "synapse_admin_token",
        "warden_bot_password",
        "warden_store_passphrase",
    ] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    // Workers do not serve the statistics endpoints: the main process's port.
    assert_eq!(config.synapse.url.as_str(), "http://synapse:8008/");
    // Probes and published ports come from outside the container: the
    // endpoints must listen on every interface, on the port the manifests use.
    assert!(
        config.http.listen.ip().is_unspecified(),
        "http.listen {} is unreachable from outside the container",
        config.http.listen
    );
    assert_eq!(u64::from(config.http.listen.port()), HTTP_PORT);
}

// ---- Dockerfile -----------------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined, comments out.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push((keyword.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

#[test]
fn dockerfile_has_the_runtime_contract() {
    let instructions = dockerfile_instructions();
    let all = |keyword: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(k, _)| k == keyword)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    let one = |keyword: &str| -> &str {
        let found = all(keyword);
        assert_eq!(found.len(), 1, "one {keyword} expected, got {found:?}");
        found[0]
    };

    // Stages: a builder from ${BUILDER_IMAGE}, the runtime from
    // ${RUNTIME_IMAGE}, and two targets adding the binary to it: `prebuilt`
    // (from the build context) and `runtime`, last (the default target).
    let froms = all("FROM");
    assert_eq!(
        froms,
        [
            "${BUILDER_IMAGE} AS builder",
            "${RUNTIME_IMAGE} AS runtime-base",
            "runtime-base AS prebuilt",
            "runtime-base AS runtime",
        ]
    );
    let args = all("ARG");
    // Debian stable (trixie): the builder's glibc is the runtime's.
    for arg in [
        "BUILDER_IMAGE=rust:1.95-trixie",
        "RUNTIME_IMAGE=debian:trixie-slim",
        "REVISION=unknown",
    ] {
        assert!(args.contains(&arg), "ARG {arg} missing: {args:?}");
    }
    let version = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the crate's version")
        .to_owned();
    assert!(
        args.contains(&format!("VERSION={version}").as_str()),
        "ARG VERSION is not the crate's version {version}: {args:?}"
    );
    // OCI labels, from the build arguments.
    let labels = all("LABEL").join(" ");
    for (key, value) in [
        ("org.opencontainers.image.source", "\"${SOURCE}\""),
        ("org.opencontainers.image.version", "\"${VERSION}\""),
        ("org.opencontainers.image.revision", "\"${REVISION}\""),
        ("org.opencontainers.image.licenses", "\"Apache-2.0\""),
    ] {
        assert!(
            labels.contains(&format!("{key}={value}")),
            "label {key} missing: {labels}"
        );
    }
    assert!(
        labels.contains("org.opencontainers.image.description="),
        "{labels}"
    );
    // The builder passes the commit to build.rs (no .git in the context).
    assert!(
        all("RUN")
            .iter()
            .any(|run| run.contains("SYNAPSE_WARDEN_COMMIT=\"${REVISION}\"")),
        "the builder does not pass REVISION as SYNAPSE_WARDEN_COMMIT"
    );
    assert!(
        all("RUN")
            .iter()
            .any(|run| run.contains("cargo build --release --locked")),
        "the builder does not run `cargo build --release --locked`"
    );
    // The two targets differ only by where the binary comes from.
    let copies = all("COPY");
    assert_eq!(
        &copies[copies.len() - 2..],
        [
            "--chmod=0755 deploy/dist/synapse-warden /usr/local/bin/synapse-warden",
            "--from=builder --chmod=0755 /synapse-warden /usr/local/bin/synapse-warden",
        ]
    );

    // Runtime stage.
    assert_eq!(one("USER"), format!("{UID}:{UID}"));
    assert_eq!(one("VOLUME"), format!("[\"{DATA_DIR}\"]"));
    assert_eq!(one("EXPOSE"), HTTP_PORT.to_string());
    let envs = all("ENV");
    assert!(
        envs.contains(&format!("SYNAPSE_WARDEN_CONFIG={CONFIG_PATH}").as_str()),
        "{envs:?}"
    );
    assert!(
        envs.contains(&"SYNAPSE_WARDEN_LOG_FORMAT=human"),
        "{envs:?}"
    );
    // `synapse-warden healthcheck`: GET /health at the policy's http.listen.
    let healthcheck = one("HEALTHCHECK");
    let (options, command) = healthcheck
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK without CMD: {healthcheck}"));
    assert!(options.contains("--interval="), "{healthcheck}");
    let command: Vec<String> = serde_json::from_str(command).expect("exec-form HEALTHCHECK CMD");
    assert_eq!(command, ["/usr/local/bin/synapse-warden", "healthcheck"]);
    let entrypoint: Vec<String> =
        serde_json::from_str(one("ENTRYPOINT")).expect("exec-form ENTRYPOINT");
    assert_eq!(entrypoint, ["/usr/local/bin/synapse-warden"]);
    let cmd: Vec<String> = serde_json::from_str(one("CMD")).expect("exec-form CMD");
    assert_eq!(cmd, ["run"]);
    let runtime_run = all("RUN")
        .into_iter()
        .find(|r| r.contains("useradd"))
        .expect("a RUN creating the user");
    assert!(
        runtime_run.contains(&format!("--uid {UID}")),
        "{runtime_run}"
    );
    assert!(
        runtime_run.contains(&format!("install -d -o {UID} -g {UID} -m 0700 {DATA_DIR}")),
        "the data directory is not created owned by {UID}: {runtime_run}"
    );
    assert!(runtime_run.contains("ca-certificates"), "{runtime_run}");
}

// ---- docker-compose.yml ----------------------------------------------------------

/// A Compose `environment:` as a map, from either of its two forms.
fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        None => BTreeMap::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect(),
        Some(Value::Array(items)) => strings(items)
            .into_iter()
            .map(|item| {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Some(other) => panic!("odd environment: {other:?}"),
    }
}

/// A Compose service's volumes in short syntax: (source, target, read-only).
fn compose_volumes(service: &Value) -> Vec<(String, String, bool)> {
    strings(seq_at(service, "volumes"))
        .into_iter()
        .map(|spec| {
            let parts: Vec<&str> = spec.split(':').collect();
            match parts.as_slice() {
                [source, target] => ((*source).to_owned(), (*target).to_owned(), false),
                [source, target, mode] => (
                    (*source).to_owned(),
                    (*target).to_owned(),
                    mode.split(',').any(|m| m == "ro"),
                ),
                _ => panic!("odd volume {spec:?}"),
            }
        })
        .collect()
}

/// The command of a Compose health check, as one string.
fn compose_healthcheck(service: &Value) -> String {
    match at(service, "healthcheck.test") {
        Value::String(s) => s.clone(),
        Value::Array(items) => strings(items).join(" "),
        other => panic!("odd healthcheck.test: {other:?}"),
    }
}

#[test]
fn compose_runs_synapse_postgres_and_the_warden() {
    let compose = yaml_document("docker-compose.yml");
    let services = at(&compose, "services");

    // PostgreSQL with the C collation Synapse requires.
    let postgres = at(services, "postgres");
    assert!(str_at(postgres, "image").starts_with("postgres:15"));
    let initdb = compose_environment(postgres)
        .remove("POSTGRES_INITDB_ARGS")
        .expect("POSTGRES_INITDB_ARGS");
    for flag in ["--encoding=UTF8", "--lc-collate=C", "--lc-ctype=C"] {
        assert!(
            initdb.split_whitespace().any(|f| f == flag),
            "{flag} missing: {initdb}"
        );
    }

    let synapse = at(services, "synapse");
    assert!(str_at(synapse, "image").starts_with("matrixdotorg/synapse:"));
    assert_eq!(
        str_at(synapse, "depends_on.postgres.condition"),
        "service_healthy"
    );
    assert!(compose_healthcheck(synapse).contains("/health"));

    let warden = at(services, "synapse-warden");
    assert_eq!(str_at(warden, "image"), IMAGE);
    assert_eq!(str_at(warden, "build.context"), "..");
    assert_eq!(str_at(warden, "build.dockerfile"), "deploy/Dockerfile");
    assert_eq!(strings(seq_at(warden, "command")), ["run"]);
    assert_eq!(str_at(warden, "user"), format!("{UID}:{UID}"));
    assert_eq!(at(warden, "read_only").as_bool(), Some(true));
    assert_eq!(
        str_at(warden, "depends_on.synapse.condition"),
        "service_healthy"
    );
    assert_eq!(
        compose_environment(warden)
            .get("SYNAPSE_WARDEN_CONFIG")
            .map(String::as_str),
        Some(CONFIG_PATH)
    );

    // The config, read-only, and a named volume for the data directory.
    let volumes = compose_volumes(warden);
    assert!(
        volumes.contains(&("./policies.yaml".to_owned(), CONFIG_PATH.to_owned(), true)),
        "the policy file is not mounted read-only at {CONFIG_PATH}: {volumes:?}"
    );
    assert!(
        deploy_path("policies.yaml").is_file(),
        "the mounted ./policies.yaml is missing"
    );
    let (data_volume, _, read_only) = volumes
        .iter()
        .find(|(_, target, _)| target == DATA_DIR)
        .unwrap_or_else(|| panic!("nothing mounted at {DATA_DIR}: {volumes:?}"));
    assert!(!read_only, "the data volume must be writable");
    assert!(
        try_at(&compose, &format!("volumes.{data_volume}")).is_some(),
        "the data volume {data_volume:?} is not a declared named volume"
    );

    // Every secret file the policies read is a Compose secret of the service,
    // from a file, mounted at /run/secrets/<name> (the Compose default).
    let granted: BTreeSet<&str> = strings(seq_at(warden, "secrets")).into_iter().collect();
    for name in shipped_secret_names() {
        assert!(
            granted.contains(name.as_str()),
            "secret {name} not granted to synapse-warden"
        );
        let file = str_at(&compose, &format!("secrets.{name}.file"));
        assert!(
            file.starts_with("./secrets/"),
            "secret {name} comes from {file}"
        );
    }

    // The health check asks /health at http.listen, as the image's does.
    assert_eq!(
        compose_healthcheck(warden),
        "CMD /usr/local/bin/synapse-warden healthcheck"
    );
    let ports = strings(seq_at(warden, "ports"));
    assert!(
        ports.contains(&format!("127.0.0.1:{HTTP_PORT}:{HTTP_PORT}").as_str()),
        "{ports:?}"
    );
}

// ---- Kubernetes -------------------------------------------------------------------

/// Every object of `deploy/kubernetes/*.yaml` but the kustomization, by
/// (kind, name).
fn kubernetes_objects() -> BTreeMap<(String, String), Value> {
    let dir = deploy_path("kubernetes");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut objects = BTreeMap::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        if name == "kustomization.yaml" {
            continue;
        }
        for doc in yaml_documents(&format!("kubernetes/{name}")) {
            let key = (
                str_at(&doc, "kind").to_owned(),
                str_at(&doc, "metadata.name").to_owned(),
            );
            assert!(objects.insert(key.clone(), doc).is_none(), "{key:?} twice");
        }
    }
    objects
}

fn object<'a>(objects: &'a BTreeMap<(String, String), Value>, kind: &str, name: &str) -> &'a Value {
    objects
        .get(&(kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {kind} {name:?} in deploy/kubernetes/"))
}

/// A probe's `httpGet` path, and its port resolved through the container's
/// named ports.
fn probe(container: &Value, which: &str) -> (String, u64) {
    let get = at(container, &format!("{which}.httpGet"));
    let path = str_at(get, "path").to_owned();
    let port = match at(get, "port") {
        Value::Number(n) => n.as_u64().expect("port number"),
        Value::String(name) => u64_at(named(seq_at(container, "ports"), name), "containerPort"),
        other => panic!("odd probe port {other:?}"),
    };
    (path, port)
}

#[test]
fn kubernetes_deployment_is_one_non_root_pod_with_its_volumes_and_probes() {
    let objects = kubernetes_objects();
    let deployment = object(&objects, "Deployment", "synapse-warden");
    let spec = at(deployment, "spec");
    assert_eq!(
        u64_at(spec, "replicas"),
        1,
        "two bots would share one session"
    );
    assert_eq!(str_at(spec, "strategy.type"), "Recreate");

    let pod = at(spec, "template.spec");
    let pod_security = at(pod, "securityContext");
    assert_eq!(at(pod_security, "runAsNonRoot").as_bool(), Some(true));
    assert_eq!(u64_at(pod_security, "runAsUser"), UID);
    assert_eq!(u64_at(pod_security, "fsGroup"), UID);

    let containers = seq_at(pod, "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    assert_eq!(str_at(container, "image"), IMAGE);
    assert_eq!(strings(seq_at(container, "args")), ["run"]);
    let security = at(container, "securityContext");
    assert_eq!(at(security, "readOnlyRootFilesystem").as_bool(), Some(true));
    assert_eq!(
        at(security, "allowPrivilegeEscalation").as_bool(),
        Some(false)
    );
    assert_eq!(strings(seq_at(security, "capabilities.drop")), ["ALL"]);
    let env = seq_at(container, "env");
    assert_eq!(
        str_at(named(env, "SYNAPSE_WARDEN_CONFIG"), "value"),
        CONFIG_PATH
    );

    assert_eq!(
        probe(container, "livenessProbe"),
        ("/health".to_owned(), HTTP_PORT)
    );
    assert_eq!(
        probe(container, "readinessProbe"),
        ("/ready".to_owned(), HTTP_PORT)
    );

    let volumes = seq_at(pod, "volumes");
    let mounts = seq_at(container, "volumeMounts");
    let mount_at = |path: &str| -> (&Value, &Value) {
        let mount = mounts
            .iter()
            .find(|m| str_at(m, "mountPath") == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        (mount, named(volumes, str_at(mount, "name")))
    };

    // The data directory: the PersistentVolumeClaim of pvc.yaml, writable.
    let (data_mount, data_volume) = mount_at(DATA_DIR);
    assert_ne!(
        try_at(data_mount, "readOnly").and_then(Value::as_bool),
        Some(true)
    );
    let claim = str_at(data_volume, "persistentVolumeClaim.claimName");
    let pvc = object(&objects, "PersistentVolumeClaim", claim);
    assert_eq!(strings(seq_at(pvc, "spec.accessModes")), ["ReadWriteOnce"]);
    assert!(try_at(pvc, "spec.resources.requests.storage").is_some());

    // The policy file: the ConfigMap's `policies.yaml`, read-only, the same
    // policies as deploy/policies.yaml.
    let config_dir = Path::new(CONFIG_PATH)
        .parent()
        .and_then(Path::to_str)
        .expect("dir");
    let (config_mount, config_volume) = mount_at(config_dir);
    assert_eq!(at(config_mount, "readOnly").as_bool(), Some(true));
    let configmap = object(
        &objects,
        "ConfigMap",
        str_at(config_volume, "configMap.name"),
    );
    // (Not `at`: the key has a dot.)
    let policies = at(configmap, "data")
        .get("policies.yaml")
        .and_then(Value::as_str)
        .expect("the ConfigMap has no data `policies.yaml`");
    let parsed = parse_policies("deploy/kubernetes/configmap.yaml (policies.yaml)", policies);
    assert_eq!(
        serde_saphyr::from_str::<Value>(policies).expect("YAML"),
        serde_saphyr::from_str::<Value>(&read("policies.yaml")).expect("YAML"),
        "the ConfigMap's policies differ from deploy/policies.yaml"
    );
    assert!(secrets_of(&parsed).env.is_empty());

    // Secrets: the Secret of secret.yaml, whose keys are the files the
    // policies read, mounted read-only at /run/secrets.
    let (secret_mount, secret_volume) = mount_at(SECRETS_DIR);
    assert_eq!(at(secret_mount, "readOnly").as_bool(), Some(true));
    assert!(
        try_at(secret_volume, "secret.items").is_none(),
        "with `items`, keys could be renamed: keep every key at its own name"
    );
    let secret = object(
        &objects,
        "Secret",
        str_at(secret_volume, "secret.secretName"),
    );
    let keys: BTreeSet<&str> = ["stringData", "data"]
        .iter()
        .filter_map(|section| secret.get(*section).and_then(Value::as_object))
        .flat_map(|map| map.keys().map(String::as_str))
        .collect();
    for name in shipped_secret_names() {
        assert!(
            keys.contains(name.as_str()),
            "Secret key {name} missing: {keys:?}"
        );
    }

    // A read-only root filesystem needs a writable /tmp.
    let (_, tmp_volume) = mount_at("/tmp");
    assert!(tmp_volume.get("emptyDir").is_some());
}

/// The labels of Synapse's pods that the NetworkPolicy admits.
const SYNAPSE_POD_LABELS: &[(&str, &str)] = &[("app.kubernetes.io/name", "synapse")];
/// The namespace Prometheus scrapes from.
const MONITORING_NAMESPACE: &str = "monitoring";

/// A `matchLabels` selector exactly equal to `labels` (no
/// `matchExpressions`, not empty: an empty selector matches everything).
fn selects_exactly(selector: &Value, labels: &[(&str, &str)]) -> bool {
    let Some(map) = selector.as_object() else {
        return false;
    };
    let expected: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let actual: Option<BTreeMap<&str, &str>> = map.get("matchLabels").and_then(|m| {
        m.as_object()?
            .iter()
            .map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect()
    });
    map.keys().all(|k| k == "matchLabels") && actual.as_ref() == Some(&expected)
}

/// One ingress rule's ports, resolved through the container's named ports.
fn rule_ports(rule: &Value, container: &Value) -> Vec<u64> {
    seq_at(rule, "ports")
        .iter()
        .map(|port| {
            assert_eq!(
                try_at(port, "protocol").and_then(Value::as_str),
                Some("TCP"),
                "{port:?}"
            );
            assert!(port.get("endPort").is_none(), "a port range: {port:?}");
            match at(port, "port") {
                Value::Number(n) => n.as_u64().expect("port number"),
                Value::String(name) => {
                    u64_at(named(seq_at(container, "ports"), name), "containerPort")
                }
                other => panic!("odd port {other:?}"),
            }
        })
        .collect()
}

/// The NetworkPolicy (issue 26): the warden's pod admits connections from
/// Synapse's pods (the module's endpoints) and from the monitoring
/// namespace (`/metrics`), on the HTTP port only, and from nobody else.
#[test]
fn kubernetes_network_policy_admits_only_synapse_and_monitoring() {
    let objects = kubernetes_objects();
    let deployment = object(&objects, "Deployment", "synapse-warden");
    let pod_labels = at(deployment, "spec.template.metadata.labels")
        .as_object()
        .expect("pod labels");
    let container = &seq_at(deployment, "spec.template.spec.containers")[0];
    let policy = object(&objects, "NetworkPolicy", "synapse-warden");
    assert_eq!(str_at(policy, "apiVersion"), "networking.k8s.io/v1");

    // It selects the warden's pod, and only by labels that pod has.
    let selector = at(policy, "spec.podSelector");
    let match_labels = at(selector, "matchLabels")
        .as_object()
        .expect("spec.podSelector.matchLabels");
    assert!(
        !match_labels.is_empty() && selector.get("matchExpressions").is_none(),
        "the policy must select the warden's pod by its labels: {selector:?}"
    );
    for (key, value) in match_labels {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "the policy selects {key}={value:?}, which the Deployment's pod does not carry"
        );
    }
    let types = strings(seq_at(policy, "spec.policyTypes"));
    assert!(
        types.contains(&"Ingress"),
        "not an ingress policy: {types:?}"
    );

    // Exactly two rules, each with its peers and ports (a rule without
    // `from` admits everyone; one without `ports` every port).
    let rules = seq_at(policy, "spec.ingress");
    assert_eq!(rules.len(), 2, "{rules:?}");
    let mut synapse_ports = None;
    let mut monitoring_ports = None;
    for rule in rules {
        let peers = seq_at(rule, "from");
        assert_eq!(peers.len(), 1, "one peer per rule: {rule:?}");
        let peer = &peers[0];
        assert!(peer.get("ipBlock").is_none(), "an ipBlock: {peer:?}");
        let ports = rule_ports(rule, container);
        assert!(!ports.is_empty(), "a rule for every port: {rule:?}");
        match (peer.get("podSelector"), peer.get("namespaceSelector")) {
            (Some(pods), None) => {
                assert!(
                    selects_exactly(pods, SYNAPSE_POD_LABELS),
                    "a pod peer other than Synapse's pods: {pods:?}"
                );
                assert!(synapse_ports.replace(ports).is_none(), "Synapse twice");
            }
            (None, Some(namespaces)) => {
                assert!(
                    selects_exactly(
                        namespaces,
                        &[("kubernetes.io/metadata.name", MONITORING_NAMESPACE)]
                    ),
                    "a namespace other than {MONITORING_NAMESPACE}: {namespaces:?}"
                );
                assert!(
                    monitoring_ports.replace(ports).is_none(),
                    "monitoring twice"
                );
            }
            other => panic!(
                "a peer that is neither Synapse's pods nor the monitoring namespace: {other:?}"
            ),
        }
    }
    // Synapse reaches the module's endpoints, on http.listen's port today.
    assert_eq!(synapse_ports, Some(vec![HTTP_PORT]), "{rules:?}");
    // Prometheus reaches /metrics, where the pod's annotations send it.
    let scrape_port: u64 = at(deployment, "spec.template.metadata.annotations")
        .get("prometheus.io/port")
        .and_then(Value::as_str)
        .and_then(|p| p.parse().ok())
        .expect("the prometheus.io/port annotation");
    assert_eq!(monitoring_ports, Some(vec![scrape_port]), "{rules:?}");
    assert_eq!(scrape_port, HTTP_PORT);
}

#[test]
fn kustomization_applies_everything_but_the_secret_template() {
    let kustomization = yaml_document("kubernetes/kustomization.yaml");
    let resources = strings(seq_at(&kustomization, "resources"));
    for resource in &resources {
        assert!(
            deploy_path(&format!("kubernetes/{resource}")).is_file(),
            "kustomization lists a missing {resource}"
        );
    }
    for expected in [
        "configmap.yaml",
        "pvc.yaml",
        "deployment.yaml",
        "networkpolicy.yaml",
    ] {
        assert!(resources.contains(&expected), "{expected} not applied");
    }
    assert!(
        !resources.contains(&"secret.yaml"),
        "applying the template would overwrite the real Secret with placeholders"
    );
}

// ---- systemd -----------------------------------------------------------------------

#[test]
fn systemd_unit_is_hardened_and_loads_every_secret() {
    let text = read("systemd/synapse-warden.service");
    let mut settings: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("odd line {line:?}"));
        settings.entry(key).or_default().push(value);
    }
    let values = |key: &str| settings.get(key).cloned().unwrap_or_default();
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "synapse-warden"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("WorkingDirectory", DATA_DIR),
        ("ExecStart", "/usr/local/bin/synapse-warden run"),
        (
            "Environment",
            &format!("SYNAPSE_WARDEN_CONFIG={CONFIG_PATH}"),
        ),
    ] {
        assert!(
            values(key).contains(&value),
            "{key}={value} missing: {:?}",
            values(key)
        );
    }
    assert!(values("SystemCallFilter").contains(&"@system-service"));
    // StateDirectory=synapse-warden is /var/lib/synapse-warden.
    assert_eq!(DATA_DIR, "/var/lib/synapse-warden");

    // The same secret names as the container deployments, as credentials.
    let credentials: BTreeSet<&str> = values("LoadCredential")
        .into_iter()
        .map(|v| v.split_once(':').map_or(v, |(name, _)| name))
        .collect();
    let expected = shipped_secret_names();
    let expected: BTreeSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(credentials, expected);
}
