//! The fault-injecting proxy against the real Swift of `SWIFTGIT_TEST_CONFIG` (those cases skip,
//! saying so, when it is unset), and against no Swift at all for refusing, failing upstream
//! and config rewriting. Times are printed, never asserted: the machine is noisy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, Url};
use swiftgit_config::{AuthVersion, Config, ConfigSource, StorageConfig, SwiftConfig};
use swiftgit_test_support::swift_proxy::{ProxyFaults, SwiftProxy, config_through_proxy};

/// The test Swift: its config file, the config, and the origin (`http://host:port`) it is on.
struct Swift {
    config_path: PathBuf,
    config: SwiftConfig,
    origin: String,
}

impl Swift {
    /// The tempauth auth URL as it is, or with its origin replaced by `base`.
    fn auth_url_on(&self, base: &str) -> String {
        self.config.auth_url.replacen(&self.origin, base, 1)
    }
}

fn swift(test: &str) -> Option<Swift> {
    let Some(config_path) = std::env::var_os("SWIFTGIT_TEST_CONFIG").filter(|v| !v.is_empty())
    else {
        println!("skipping {test}: SWIFTGIT_TEST_CONFIG is unset");
        return None;
    };
    let config = swiftgit_test_support::swift_test_config()
        .expect("holds because SWIFTGIT_TEST_CONFIG is set");
    if config.auth_version != AuthVersion::V1 {
        println!(
            "skipping {test}: it speaks tempauth (auth v1) and SWIFTGIT_TEST_CONFIG is not v1"
        );
        return None;
    }
    let origin = Url::parse(&config.auth_url)
        .expect("holds because the config's auth_url was validated when it loaded")
        .origin()
        .ascii_serialization();
    Some(Swift {
        config_path: PathBuf::from(config_path),
        config,
        origin,
    })
}

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().no_proxy().build().unwrap()
}

/// Authenticates with tempauth at `auth_url`; returns the storage URL and the token.
async fn authenticate(http: &Client, swift: &Swift, auth_url: &str) -> (String, String) {
    let response = http
        .get(auth_url)
        .header("X-Auth-User", swift.config.v1_user())
        .header("X-Auth-Key", swift.config.password.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "auth at {auth_url}");
    let header = |name: &str| {
        response.headers()[name]
            .to_str()
            .expect("holds because Swift sends ASCII headers")
            .to_string()
    };
    (header("x-storage-url"), header("x-auth-token"))
}

/// Sends `request` with the auth `token`; returns the status and the response.
async fn send(request: reqwest::RequestBuilder, token: &str) -> (StatusCode, reqwest::Response) {
    let response = request.header("X-Auth-Token", token).send().await.unwrap();
    (response.status(), response)
}

/// A port nothing listens on (bound, then released).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test]
async fn auth_through_the_proxy_points_the_storage_url_at_the_proxy() {
    let Some(swift) = swift("auth_through_the_proxy_points_the_storage_url_at_the_proxy") else {
        return;
    };
    let proxy = SwiftProxy::start(&swift.origin, ProxyFaults::default());
    let http = http();
    let (direct_url, _) = authenticate(&http, &swift, &swift.config.auth_url).await;
    let (proxied_url, _) = authenticate(&http, &swift, &swift.auth_url_on(&proxy.url())).await;
    assert!(
        direct_url.starts_with(&format!("{}/", swift.origin)),
        "{direct_url}"
    );
    assert_eq!(
        proxied_url,
        direct_url.replacen(&swift.origin, &proxy.url(), 1)
    );
    assert_eq!(proxy.requests(), 1, "only the proxied auth went through it");
}

#[tokio::test]
async fn an_object_put_through_a_congested_proxy_reads_back_identical() {
    let Some(swift) = swift("an_object_put_through_a_congested_proxy_reads_back_identical") else {
        return;
    };
    let congested = ProxyFaults {
        body_delay_ms: 40..80,
        refuse: false,
    };
    let proxy = SwiftProxy::start(&swift.origin, congested);
    let http = http();
    let (storage_url, token) = authenticate(&http, &swift, &swift.auth_url_on(&proxy.url())).await;
    assert!(storage_url.starts_with(&proxy.url()), "{storage_url}");
    let container = format!(
        "{storage_url}/swiftgit-proxy-{:016x}",
        rand::random::<u64>()
    );
    let object = format!("{container}/dir/object.bin");
    let body: Vec<u8> = (0..256 * 1024).map(|_| rand::random::<u8>()).collect();

    let (status, _) = send(http.put(&container), &token).await;
    assert!(status.is_success(), "PUT container: {status}");
    let started = Instant::now();
    let (status, _) = send(http.put(&object).body(body.clone()), &token).await;
    let through_proxy = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "PUT object");
    let (status, response) = send(http.get(&object), &token).await;
    assert_eq!(status, StatusCode::OK, "GET object");
    assert!(
        response.bytes().await.unwrap() == body,
        "the object read back differs"
    );
    let (status, response) = send(http.head(&object), &token).await;
    assert_eq!(status, StatusCode::OK, "HEAD object");
    assert_eq!(
        response.headers()["content-length"],
        body.len().to_string().as_str(),
        "a HEAD keeps Swift's Content-Length"
    );

    // The same PUT straight to Swift, for the printed comparison only.
    let direct_object = object.replacen(&proxy.url(), &swift.origin, 1);
    let started = Instant::now();
    let (status, _) = send(http.put(&direct_object).body(body.clone()), &token).await;
    let direct = started.elapsed();
    assert_eq!(status, StatusCode::CREATED, "PUT object straight to Swift");
    println!(
        "PUT of 256 KiB: {through_proxy:?} through the proxy (40..80 ms body delay), {direct:?} straight to Swift"
    );

    let (status, _) = send(http.delete(&object), &token).await;
    assert!(status.is_success(), "DELETE object: {status}");
    let (status, _) = send(http.delete(&container), &token).await;
    assert!(status.is_success(), "DELETE container: {status}");
    assert_eq!(
        proxy.requests(),
        7,
        "auth, PUT container, PUT, GET, HEAD, DELETE object and container went through the proxy"
    );
}

/// Reads one response with a `Content-Length` body off `reader`; returns its status line and
/// its head, lower-cased.
fn read_response(reader: &mut BufReader<TcpStream>) -> (String, String) {
    let mut head = String::new();
    loop {
        let before = head.len();
        reader.read_line(&mut head).unwrap();
        assert!(head.len() > before, "the proxy closed the connection");
        if head.ends_with("\r\n\r\n") {
            break;
        }
    }
    let head = head.to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    reader.read_exact(&mut vec![0; length]).unwrap();
    let status = head.lines().next().unwrap().to_string();
    (status, head)
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let Some(swift) = swift("keep_alive_serves_several_requests_on_one_connection") else {
        return;
    };
    let proxy = SwiftProxy::start(&swift.origin, ProxyFaults::default());
    let auth_path = Url::parse(&swift.config.auth_url)
        .unwrap()
        .path()
        .to_string();
    let stream = TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    for _ in 0..3 {
        write!(
            writer,
            "GET {auth_path} HTTP/1.1\r\nHost: swift\r\nX-Auth-User: {}\r\nX-Auth-Key: {}\r\n\r\n",
            swift.config.v1_user(),
            swift.config.password.expose()
        )
        .unwrap();
        let (status, head) = read_response(&mut reader);
        assert_eq!(status, "http/1.1 200 ok");
        assert!(
            head.contains(&format!("x-storage-url: {}/", proxy.url())),
            "{head}"
        );
    }
    assert_eq!(proxy.requests(), 3);
}

#[tokio::test]
async fn a_client_leaving_mid_body_does_not_stop_the_proxy() {
    let Some(swift) = swift("a_client_leaving_mid_body_does_not_stop_the_proxy") else {
        return;
    };
    let proxy = SwiftProxy::start(
        &swift.origin,
        ProxyFaults {
            body_delay_ms: 40..80,
            refuse: false,
        },
    );
    let http = http();
    let (storage_url, token) = authenticate(&http, &swift, &swift.auth_url_on(&proxy.url())).await;
    let path = Url::parse(&storage_url).unwrap().path().to_string();
    let mut stream = TcpStream::connect(proxy.url().trim_start_matches("http://")).unwrap();
    write!(
        stream,
        "PUT {path}/swiftgit-proxy-absent/object HTTP/1.1\r\nHost: swift\r\nX-Auth-Token: {token}\r\n\
         Content-Length: 100000\r\n\r\nonly ten b"
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(stream);

    let (again, _) = authenticate(&http, &swift, &swift.auth_url_on(&proxy.url())).await;
    assert_eq!(again, storage_url);
    assert_eq!(proxy.requests(), 3, "auth, the abandoned PUT, auth");
}

#[tokio::test]
async fn set_faults_refuses_and_restores_service() {
    let Some(swift) = swift("set_faults_refuses_and_restores_service") else {
        return;
    };
    let proxy = SwiftProxy::start(&swift.origin, ProxyFaults::default());
    let http = http();
    let auth_url = swift.auth_url_on(&proxy.url());
    authenticate(&http, &swift, &auth_url).await;
    proxy.set_faults(ProxyFaults {
        body_delay_ms: 0..0,
        refuse: true,
    });
    let refused = http.get(&auth_url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    proxy.set_faults(ProxyFaults::default());
    authenticate(&http, &swift, &auth_url).await;
    assert_eq!(proxy.requests(), 2, "the refused request was not forwarded");
}

#[tokio::test]
async fn refused_requests_never_reach_upstream_and_a_dead_upstream_is_a_502() {
    let proxy = SwiftProxy::start(
        &closed_port_url(),
        ProxyFaults {
            body_delay_ms: 40..80,
            refuse: true,
        },
    );
    let http = http();
    let refused = http
        .put(format!("{}/v1/AUTH_test/c/o", proxy.url()))
        .body("body")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(proxy.requests(), 0);

    proxy.set_faults(ProxyFaults::default());
    let failed = http
        .get(format!("{}/auth/v1.0", proxy.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    let message = failed.text().await.unwrap();
    assert!(
        message.starts_with("swift proxy: GET http://127.0.0.1:"),
        "{message}"
    );
    assert_eq!(proxy.requests(), 1);
}

/// The lines of the two files that differ, as (line number, old, new).
fn changed_lines(old: &Path, new: &Path) -> Vec<(usize, String, String)> {
    let old = std::fs::read_to_string(old).unwrap();
    let new = std::fs::read_to_string(new).unwrap();
    assert_eq!(old.lines().count(), new.lines().count());
    old.lines()
        .zip(new.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i + 1, a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn config_through_proxy_changes_only_the_swift_auth_url() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = "http://127.0.0.1:18080";
    let proxy = SwiftProxy::start(upstream, ProxyFaults::default());
    let original = dir.path().join("swiftgit.conf");
    std::fs::write(
        &original,
        "# auth_url = http://127.0.0.1:18080/commented/out\n\
         [swift]\n\
         auth_url = http://127.0.0.1:18080/auth/v1.0\n\
         auth_ver = 1\n\
         username = test;tester\n\
         password = testing\n\
         \n\
         [http]\n\
         auth_url = http://127.0.0.1:18080/not/swift\n",
    )
    .unwrap();
    let rewritten = config_through_proxy(&original, &proxy, dir.path());
    assert_eq!(rewritten.parent(), Some(dir.path()));
    assert_ne!(rewritten, original);
    assert_eq!(
        changed_lines(&original, &rewritten),
        [(
            3,
            "auth_url = http://127.0.0.1:18080/auth/v1.0".to_string(),
            format!("auth_url = {}/auth/v1.0", proxy.url())
        )]
    );
    assert_eq!(proxy.requests(), 0);
}

#[test]
fn the_test_config_through_the_proxy_loads_with_only_auth_url_changed() {
    let Some(swift) = swift("the_test_config_through_the_proxy_loads_with_only_auth_url_changed")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let proxy = SwiftProxy::start(&swift.origin, ProxyFaults::default());
    let path = config_through_proxy(&swift.config_path, &proxy, dir.path());
    let loaded = match Config::load(&ConfigSource::File(path.clone()), |_| None)
        .unwrap()
        .storage
    {
        StorageConfig::Swift(swift) => swift,
        other => panic!("{} is not a [swift] config: {other:?}", path.display()),
    };
    assert_eq!(loaded.auth_url, swift.auth_url_on(&proxy.url()));
    assert_eq!(
        SwiftConfig {
            auth_url: swift.config.auth_url.clone(),
            ..loaded
        },
        swift.config
    );
    assert_eq!(changed_lines(&swift.config_path, &path).len(), 1);
}
