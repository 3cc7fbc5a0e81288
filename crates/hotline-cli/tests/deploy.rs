//! Checks the deployment files in `deploy/` without Docker or a cluster: every
//! YAML file parses, the key facts hold (replica counts, gRPC probes on the
//! listen port, the services compose runs), the Kubernetes config map is a
//! valid hotline configuration for the same loader the server uses, and the
//! systemd unit and the images call subcommands and flags that exist.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotline_server::{Layers, Scope, ServerConfig};
use serde_norway::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_norway::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Follows a path of mapping keys and sequence indexes.
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, step| match step.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*step],
        })
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string: {:?}", at(value, path)))
}

fn number(value: &Value, path: &[&str]) -> u64 {
    at(value, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{path:?} is not a number: {:?}", at(value, path)))
}

/// Loads a configuration file with no flags and no environment.
fn load_file(name: &str, contents: &str) -> ServerConfig {
    let no_env = |_: &str| None;
    let layers = Layers {
        flags: Vec::new(),
        env: &no_env,
        file: Some((Path::new(name), contents)),
    };
    hotline_server::load_config(&layers, Scope::Serve)
        .unwrap_or_else(|e| panic!("{name} is not a valid hotline configuration: {e}"))
}

/// Returns `hotline <args> --help`, failing if the subcommand does not exist.
fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .arg("--help")
        .output()
        .expect("the hotline binary runs");
    assert!(
        output.status.success(),
        "hotline {args:?} --help failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts that `hotline <words>` names an existing subcommand and flags.
fn assert_command_exists(words: &[&str]) {
    let subcommand: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !w.starts_with('-'))
        .take_while(|w| !w.contains(['/', '$', ':']))
        .collect();
    let flags: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.starts_with("--"))
        .collect();
    let global = help(&[]);
    let usage = help(&subcommand);
    for flag in flags {
        let flag = flag.split('=').next().unwrap_or(flag);
        assert!(
            usage.contains(&format!("{flag} ")) || global.contains(&format!("{flag} ")),
            "hotline {subcommand:?} has no flag {flag}"
        );
    }
}

#[test]
fn every_yaml_file_parses() {
    let mut files = vec!["compose.yaml".to_owned(), "otel-collector.yaml".to_owned()];
    for entry in std::fs::read_dir(deploy_dir().join("k8s")).expect("deploy/k8s exists") {
        let name = entry
            .expect("readable")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".yaml") {
            files.push(format!("k8s/{name}"));
        }
    }
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        let value = yaml(file);
        assert!(value.is_mapping(), "{file} is not a mapping");
    }
}

#[test]
fn kubernetes_runs_three_replicas_probed_over_grpc_on_the_listen_port() {
    let configmap = yaml("k8s/configmap.yaml");
    let toml = text(&configmap, &["data", "hotline.toml"]);
    let config = load_file("configmap hotline.toml", toml);
    let port = u64::from(config.listen.port());
    assert!(
        config.listen.ip().is_unspecified(),
        "a pod must listen on every interface, not {}",
        config.listen
    );
    config
        .validate()
        .expect("the pod may listen on every interface (TLS or allow_plaintext)");

    let deployment = yaml("k8s/deployment.yaml");
    assert_eq!(text(&deployment, &["kind"]), "Deployment");
    assert_eq!(number(&deployment, &["spec", "replicas"]), 3);
    let pod = at(&deployment, &["spec", "template", "spec"]);
    let container = at(pod, &["containers", "0"]);
    assert_eq!(text(container, &["args", "0"]), "serve");
    assert_eq!(number(container, &["ports", "0", "containerPort"]), port);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            number(container, &[probe, "grpc", "port"]),
            port,
            "{probe} must ask grpc.health.v1 on the listen port"
        );
    }
    assert_eq!(
        at(container, &["securityContext", "readOnlyRootFilesystem"]).as_bool(),
        Some(true)
    );
    assert_eq!(
        at(pod, &["securityContext", "runAsNonRoot"]).as_bool(),
        Some(true)
    );

    // The config file is mounted where HOTLINE_CONFIG points, from the config map.
    let env = at(container, &["env"]).as_sequence().expect("env list");
    let var = |name: &str| {
        env.iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in the container env"))
    };
    let config_path = text(var("HOTLINE_CONFIG"), &["value"]);
    let mount = text(container, &["volumeMounts", "0", "mountPath"]);
    assert_eq!(
        Path::new(config_path),
        Path::new(mount).join("hotline.toml")
    );
    assert_eq!(
        text(pod, &["volumes", "0", "configMap", "name"]),
        text(&configmap, &["metadata", "name"])
    );

    // The database URL comes from the secret, under the key the secret defines.
    let secret = yaml("k8s/secret.yaml");
    let from = at(var("HOTLINE_DATABASE_URL"), &["valueFrom", "secretKeyRef"]);
    assert_eq!(text(from, &["name"]), text(&secret, &["metadata", "name"]));
    let key = text(from, &["key"]);
    assert!(
        text(&secret, &["stringData", key]).starts_with("postgres://"),
        "the secret holds a PostgreSQL URL"
    );

    // Every replica reads the same key hash secret, mounted from its Secret at
    // the path the configuration names.
    let secret_file = config
        .key_hash_secret_file
        .as_deref()
        .expect("PostgreSQL replicas need key_hash_secret_file");
    let key_hash = yaml("k8s/key-hash-secret.yaml");
    let volumes = at(pod, &["volumes"]).as_sequence().expect("volumes");
    let volume = volumes
        .iter()
        .find(|v| {
            v["secret"]["secretName"].as_str() == Some(text(&key_hash, &["metadata", "name"]))
        })
        .expect("a volume of the key hash secret");
    let mounts = at(container, &["volumeMounts"])
        .as_sequence()
        .expect("mounts");
    let mount = mounts
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the key hash secret is mounted");
    let file_name = secret_file
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file");
    assert_eq!(
        secret_file.parent(),
        Some(Path::new(text(mount, &["mountPath"]))),
        "key_hash_secret_file is in the secret's mount"
    );
    assert!(
        text(&key_hash, &["stringData", file_name]).len() >= 32,
        "the secret holds a key {file_name} of 32 bytes or more"
    );

    let service = yaml("k8s/service.yaml");
    assert_eq!(number(&service, &["spec", "ports", "0", "port"]), port);
    let pdb = yaml("k8s/pdb.yaml");
    assert_eq!(text(&pdb, &["kind"]), "PodDisruptionBudget");
    assert!(number(&pdb, &["spec", "minAvailable"]) < 3);
    let labels = at(&deployment, &["spec", "template", "metadata", "labels"]);
    for selector in [
        at(&service, &["spec", "selector"]),
        at(&pdb, &["spec", "selector", "matchLabels"]),
        at(&deployment, &["spec", "selector", "matchLabels"]),
    ] {
        assert_eq!(selector, labels, "selectors match the pod labels");
    }
    let kustomization = yaml("k8s/kustomization.yaml");
    let resources = at(&kustomization, &["resources"])
        .as_sequence()
        .expect("resources");
    assert_eq!(resources.len(), 6, "every manifest is applied");
}

#[test]
fn compose_runs_two_hotline_replicas_with_postgres_redis_and_a_collector() {
    let compose = yaml("compose.yaml");
    let services = at(&compose, &["services"]);
    for name in ["hotline", "postgres", "redis", "otel-collector"] {
        assert!(services[name].is_mapping(), "compose has no {name} service");
    }
    let hotline = &services["hotline"];
    assert_eq!(number(hotline, &["deploy", "replicas"]), 2);
    let env = |name: &str| text(hotline, &["environment", name]);
    assert!(env("HOTLINE_DATABASE_URL").starts_with("postgres://"));
    assert!(env("HOTLINE_DATABASE_URL").contains("@postgres:"));
    assert!(env("HOTLINE_REDIS_URL").starts_with("redis://redis:"));
    assert_eq!(
        env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://otel-collector:4317"
    );
    let listen: std::net::SocketAddr = env("HOTLINE_LISTEN").parse().expect("an address");
    // The replicas listen on every interface of their containers: that needs
    // TLS or the plaintext leave, which the loader and validation accept.
    let vars: Vec<(String, String)> = at(hotline, &["environment"])
        .as_mapping()
        .expect("an environment mapping")
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect();
    let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let layers = Layers {
        flags: Vec::new(),
        env: &lookup,
        file: None,
    };
    let config = hotline_server::load_config(&layers, Scope::Serve)
        .expect("the compose environment is a valid configuration");
    config
        .validate()
        .expect("the replicas may listen on every interface");
    // Both replicas read one key hash secret, from a compose secret.
    let secret_path = config
        .key_hash_secret_file
        .expect("PostgreSQL replicas need key_hash_secret_file");
    let secret_name = secret_path
        .strip_prefix("/run/secrets")
        .expect("a compose secret")
        .to_str()
        .expect("utf-8");
    let uses = at(hotline, &["secrets"]).as_sequence().expect("secrets");
    assert!(uses.iter().any(|s| s.as_str() == Some(secret_name)));
    let source = text(&compose, &["secrets", secret_name, "file"]);
    assert!(read(source.trim_start_matches("./")).trim().len() >= 32);
    let check = at(hotline, &["healthcheck", "test"])
        .as_sequence()
        .expect("exec form")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>();
    assert_eq!(check[0], "CMD");
    assert_eq!(check[1], "hotline");
    assert!(check.contains(&format!("http://127.0.0.1:{}", listen.port()).as_str()));
    assert_command_exists(&check[2..]);

    // The collector mounts the config file kept next to compose.yaml, which
    // receives OTLP/gRPC on the port the replicas export to.
    let collector = &services["otel-collector"];
    let volume = text(collector, &["volumes", "0"]);
    let local = volume.split(':').next().expect("a source");
    let config = yaml(local.trim_start_matches("./"));
    assert_eq!(
        text(
            &config,
            &["receivers", "otlp", "protocols", "grpc", "endpoint"]
        ),
        "0.0.0.0:4317"
    );
    for pipeline in ["traces", "metrics"] {
        let receivers = at(&config, &["service", "pipelines", pipeline, "receivers"]);
        assert_eq!(receivers[0].as_str(), Some("otlp"), "{pipeline}");
    }
}

#[test]
fn the_dockerfile_builds_locked_and_runs_serve_as_a_non_root_user() {
    let dockerfile = read("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(dockerfile.matches("\nFROM ").count() >= 1 && dockerfile.contains(" AS build"));
    assert!(
        dockerfile.contains("\nUSER 10001"),
        "runs as a non-root user"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"hotline\"]"));
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    let health = dockerfile
        .lines()
        .find(|l| l.trim_start().starts_with("CMD [\"hotline\""))
        .expect("a gRPC health check");
    let words: Vec<&str> = health
        .trim_start()
        .trim_start_matches("CMD [")
        .trim_end_matches(']')
        .split(", ")
        .map(|w| w.trim_matches('"'))
        .collect();
    assert_command_exists(&words[1..]);
    // The environment the image sets names real settings.
    for setting in [
        "HOTLINE_LISTEN",
        "HOTLINE_ALLOW_PLAINTEXT",
        "HOTLINE_DATA_DIR",
        "HOTLINE_LOG_FORMAT",
    ] {
        assert!(dockerfile.contains(setting));
        assert!(
            hotline_server::SETTINGS.iter().any(|s| s.env == setting),
            "{setting} is no setting"
        );
    }
}

#[test]
fn the_systemd_unit_runs_serve_with_existing_flags_and_is_hardened() {
    let unit = read("systemd/hotline.service");
    let directive = |name: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name}= in the unit"))
    };
    let exec: Vec<&str> = directive("ExecStart").split_whitespace().collect();
    assert!(exec[0].ends_with("/hotline"), "{exec:?}");
    assert_eq!(exec[1], "serve");
    assert_command_exists(&exec[1..]);
    assert_eq!(directive("ProtectSystem"), "strict");
    assert_eq!(directive("DynamicUser"), "yes");
    assert_eq!(directive("StateDirectory"), "hotline");
    assert_eq!(directive("NoNewPrivileges"), "yes");
    assert!(
        exec.contains(&"${STATE_DIRECTORY}"),
        "the data lives in the state directory, the only writable place"
    );
}

#[test]
fn the_configuration_documentation_lists_every_setting() {
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .expect("docs/configuration.md exists");
    for setting in hotline_server::SETTINGS {
        let row = docs
            .lines()
            .find(|l| l.starts_with(&format!("| `--{}", setting.flag)))
            .unwrap_or_else(|| panic!("no table row for --{}", setting.flag));
        assert!(row.contains(&format!("`{}`", setting.env)), "{row}");
        assert!(row.contains(&format!("`{}`", setting.key)), "{row}");
        if !setting.default.is_empty() {
            assert!(row.contains(&format!("`{}`", setting.default)), "{row}");
        }
    }
}
