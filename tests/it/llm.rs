//! `onyx::llm::configure` against a stand-in for Onyx v2.3.0's API on 127.0.0.1 that
//! behaves like the real one where it matters (fastapi-users register/login with the
//! `fastapiusersauth` cookie, the first user becomes admin, `is_creation` checked against existing
//! names, `detail` errors) and records every request. The admin Secret is kept by the Kubernetes
//! API simulator in one test, in memory in the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onyx::llm::{self, AdminLogin, AdminStore, LlmChoice, LlmError, ProviderRequest, SecretStore};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    cookie: Option<String>,
    content_type: Option<String>,
    body: String,
}

#[derive(Default)]
struct Onyx {
    /// email → (password, role)
    users: HashMap<String, (String, String)>,
    /// session token → email
    sessions: HashMap<String, String>,
    /// id → provider JSON
    providers: Vec<Value>,
    default_provider: Option<i64>,
    requests: Vec<Seen>,
    /// Answer PUT /admin/llm/provider with this 400 detail.
    reject_put: Option<String>,
}

struct StandIn {
    url: String,
    state: Arc<Mutex<Onyx>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state: Arc<Mutex<Onyx>> = Arc::default();
        let s = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, &s).await;
                });
            }
        });
        StandIn { url, state, task }
    }

    fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().requests.clone()
    }

    fn paths(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }
}

async fn serve(mut conn: tokio::net::TcpStream, state: &Mutex<Onyx>) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
        buf.drain(..head_end + len);
        let cookie = headers.get("cookie").and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == "fastapiusersauth")
                .map(|(_, v)| v.to_string())
        });
        let seen = Seen {
            method,
            path,
            cookie,
            content_type: headers.get("content-type").cloned(),
            body,
        };
        let (status, extra, answer) = handle(&mut state.lock().unwrap(), &seen);
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{answer}",
            answer.len()
        );
        conn.write_all(resp.as_bytes()).await?;
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%40", "@").replace("%21", "!")))
        .collect()
}

fn err(status: &'static str, detail: &str) -> (&'static str, String, String) {
    (
        status,
        String::new(),
        json!({ "detail": detail }).to_string(),
    )
}

/// The parts of Onyx's behaviour the client depends on.
fn handle(o: &mut Onyx, r: &Seen) -> (&'static str, String, String) {
    o.requests.push(r.clone());
    let user = r.cookie.as_ref().and_then(|c| o.sessions.get(c)).cloned();
    let role = user
        .as_ref()
        .and_then(|u| o.users.get(u))
        .map(|(_, role)| role.clone());
    let (path, query) = r.path.split_once('?').unwrap_or((&r.path, ""));
    match (r.method.as_str(), path) {
        ("POST", "/api/auth/register") => {
            let v: Value = serde_json::from_str(&r.body).unwrap_or_default();
            let email = v["email"].as_str().unwrap_or_default().to_string();
            let password = v["password"].as_str().unwrap_or_default().to_string();
            if o.users.contains_key(&email) {
                return err("400 Bad Request", "REGISTER_USER_ALREADY_EXISTS");
            }
            // UserManager.create: the first user is the admin.
            let role = if o.users.is_empty() { "admin" } else { "basic" };
            o.users.insert(email.clone(), (password, role.into()));
            (
                "201 Created",
                String::new(),
                json!({"email": email, "role": role}).to_string(),
            )
        }
        ("POST", "/api/auth/login") => {
            let f = form(&r.body);
            let (email, password) = (f.get("username").cloned(), f.get("password").cloned());
            match (email, password) {
                (Some(e), Some(p)) if o.users.get(&e).is_some_and(|(pw, _)| *pw == p) => {
                    let token = format!("tok{}", o.sessions.len() + 1);
                    o.sessions.insert(token.clone(), e);
                    (
                        "204 No Content",
                        format!(
                            "set-cookie: fastapiusersauth={token}; HttpOnly; Max-Age=604800; Path=/; SameSite=lax\r\n"
                        ),
                        String::new(),
                    )
                }
                _ => err("400 Bad Request", "LOGIN_BAD_CREDENTIALS"),
            }
        }
        ("GET", "/api/me") => match (&user, &role) {
            (Some(u), Some(role)) => (
                "200 OK",
                String::new(),
                json!({"email": u, "role": role}).to_string(),
            ),
            _ => err("403 Forbidden", "Access denied. User is not authenticated."),
        },
        (_, p) if p.starts_with("/api/admin/") && role.as_deref() != Some("admin") => err(
            "403 Forbidden",
            "Access denied. User must be an admin to perform this action.",
        ),
        ("GET", "/api/admin/llm/provider") => (
            "200 OK",
            String::new(),
            Value::Array(o.providers.clone()).to_string(),
        ),
        ("PUT", "/api/admin/llm/provider") => {
            if let Some(d) = o.reject_put.clone() {
                return err("400 Bad Request", &d);
            }
            let v: Value = match serde_json::from_str(&r.body) {
                Ok(v) => v,
                Err(_) => return err("422 Unprocessable Entity", "body is not JSON"),
            };
            for field in ["name", "provider", "default_model_name"] {
                if !v[field].is_string() {
                    return err(
                        "422 Unprocessable Entity",
                        &format!("{field}: field required"),
                    );
                }
            }
            let name = v["name"].as_str().unwrap().to_string();
            let creation = query.contains("is_creation=true");
            let existing = o.providers.iter().position(|p| p["name"] == name);
            match (existing, creation) {
                (Some(_), true) => {
                    return err(
                        "400 Bad Request",
                        &format!("LLM Provider with name {name} already exists"),
                    );
                }
                (None, false) => {
                    return err(
                        "400 Bad Request",
                        &format!("LLM Provider with name {name} does not exist"),
                    );
                }
                _ => {}
            }
            let mut view = v.clone();
            let id = match existing {
                Some(i) => o.providers[i]["id"].as_i64().unwrap(),
                None => o.providers.len() as i64 + 1,
            };
            view["id"] = json!(id);
            match existing {
                Some(i) => o.providers[i] = view.clone(),
                None => o.providers.push(view.clone()),
            }
            ("200 OK", String::new(), view.to_string())
        }
        ("POST", p) if p.starts_with("/api/admin/llm/provider/") && p.ends_with("/default") => {
            let id: i64 = p
                .trim_start_matches("/api/admin/llm/provider/")
                .trim_end_matches("/default")
                .parse()
                .unwrap_or(-1);
            if !o.providers.iter().any(|p| p["id"] == id) {
                return err("404 Not Found", "provider not found");
            }
            o.default_provider = Some(id);
            ("200 OK", String::new(), "null".into())
        }
        _ => err("404 Not Found", "Not Found"),
    }
}

/// The admin login kept in memory (what the Secret holds in a cluster).
#[derive(Default)]
struct MemStore(Mutex<Option<AdminLogin>>);

impl AdminStore for MemStore {
    async fn load(&self) -> Result<Option<AdminLogin>, LlmError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn create(&self, login: &AdminLogin) -> Result<(), LlmError> {
        let mut g = self.0.lock().unwrap();
        if g.is_some() {
            return Err(LlmError::Store {
                secret: "onyx-admin".into(),
                message: "already exists".into(),
            });
        }
        *g = Some(login.clone());
        Ok(())
    }
}

fn vllm() -> ProviderRequest {
    llm::provider_request(
        &LlmChoice::OpenAiCompatible {
            url: "http://vllm-service.ai-services:8001/v1".into(),
            model: Some("Qwen/Qwen2.5-7B-Instruct".into()),
        },
        "unused",
        |_| None,
    )
    .unwrap()
}

async fn configure(
    api: &StandIn,
    req: &ProviderRequest,
    store: &MemStore,
) -> Result<llm::Configured, LlmError> {
    tokio::time::timeout(
        Duration::from_secs(20),
        llm::configure(&api.url, req, store),
    )
    .await
    .expect("configure finishes")
}

#[tokio::test]
async fn first_run_registers_the_admin_and_sets_the_default_provider() {
    let api = StandIn::start().await;
    let store = MemStore::default();
    let done = configure(&api, &vllm(), &store).await.unwrap();
    assert!(done.created && done.registered_admin);
    assert_eq!(done.provider_id, 1);
    assert_eq!(done.model, "Qwen/Qwen2.5-7B-Instruct");

    let login = store.0.lock().unwrap().clone().expect("login stored");
    assert_eq!(login.email, "admin@onyx.example.com");
    assert!(login.password.len() >= 32);

    assert_eq!(
        api.paths(),
        [
            "POST /api/auth/login", // no user yet: bad credentials
            "POST /api/auth/register",
            "POST /api/auth/login",
            "GET /api/me",
            "GET /api/admin/llm/provider",
            "PUT /api/admin/llm/provider?is_creation=true",
            "POST /api/admin/llm/provider/1/default",
        ]
    );
    let reqs = api.requests();
    let register: Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(
        register,
        json!({"email": login.email, "password": login.password})
    );
    assert_eq!(reqs[1].content_type.as_deref(), Some("application/json"));
    assert_eq!(
        reqs[2].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    // Every call after the login carries the session cookie.
    for r in &reqs[3..] {
        assert_eq!(r.cookie.as_deref(), Some("tok1"), "{r:?}");
    }
    let put: Value = serde_json::from_str(&reqs[5].body).unwrap();
    assert_eq!(put["name"], "onyx-openai-compatible");
    assert_eq!(put["provider"], "openai");
    assert_eq!(put["api_base"], "http://vllm-service.ai-services:8001/v1");
    assert_eq!(put["default_model_name"], "Qwen/Qwen2.5-7B-Instruct");
    assert_eq!(
        put["model_configurations"],
        json!([{"name": "Qwen/Qwen2.5-7B-Instruct", "is_visible": true}])
    );
    assert_eq!(put["is_public"], true);
    assert_eq!(api.state.lock().unwrap().default_provider, Some(1));
}

#[tokio::test]
async fn a_rerun_logs_in_and_updates_the_same_provider() {
    let api = StandIn::start().await;
    let store = MemStore::default();
    configure(&api, &vllm(), &store).await.unwrap();
    let before = api.requests().len();
    let again = configure(&api, &vllm(), &store).await.unwrap();
    assert!(!again.created && !again.registered_admin);
    assert_eq!(again.provider_id, 1);
    let paths = api.paths()[before..].to_vec();
    assert_eq!(
        paths,
        [
            "POST /api/auth/login",
            "GET /api/me",
            "GET /api/admin/llm/provider",
            "PUT /api/admin/llm/provider?is_creation=false",
            "POST /api/admin/llm/provider/1/default",
        ]
    );
    assert_eq!(api.state.lock().unwrap().providers.len(), 1);
}

#[tokio::test]
async fn the_openai_key_reaches_the_api_and_nothing_else() {
    let api = StandIn::start().await;
    let store = MemStore::default();
    let req = llm::provider_request(
        &LlmChoice::OpenAi {
            key_env: "TEST_OPENAI_KEY".into(),
            model: None,
        },
        "unused",
        |k| (k == "TEST_OPENAI_KEY").then(|| "sk-test-123".to_string()),
    )
    .unwrap();
    let done = configure(&api, &req, &store).await.unwrap();
    assert!(!format!("{done:?}").contains("sk-test-123"));
    let reqs = api.requests();
    let put = reqs.iter().find(|r| r.method == "PUT").unwrap();
    let v: Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(v["api_key"], "sk-test-123");
    assert_eq!(v["api_key_changed"], true);
    assert_eq!(v["provider"], "openai");
    assert_eq!(v["default_model_name"], "gpt-4o");
    assert_eq!(v["fast_default_model_name"], "gpt-4o-mini");
    // The key appears in no other request.
    for r in reqs.iter().filter(|r| r.method != "PUT") {
        assert!(!r.body.contains("sk-test-123") && !r.path.contains("sk-test-123"));
    }
}

#[tokio::test]
async fn someone_else_registered_first() {
    let api = StandIn::start().await;
    api.state.lock().unwrap().users.insert(
        "alice@example.com".into(),
        ("alice-password".into(), "admin".into()),
    );
    let err = configure(&api, &vllm(), &MemStore::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::NotAdmin { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the user admin@onyx.example.com is not an Onyx admin (someone else registered first and is the admin)"
    );
    assert!(err.hint().unwrap().contains("Admin → LLM"));
    assert!(!api.paths().iter().any(|p| p.contains("/admin/")));
}

#[tokio::test]
async fn a_lost_password_is_named() {
    let api = StandIn::start().await;
    api.state.lock().unwrap().users.insert(
        "admin@onyx.example.com".into(),
        ("another-password".into(), "admin".into()),
    );
    let store = MemStore::default();
    *store.0.lock().unwrap() = Some(AdminLogin {
        email: "admin@onyx.example.com".into(),
        password: "stale".into(),
    });
    let err = configure(&api, &vllm(), &store).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "an Onyx user admin@onyx.example.com exists, but its password is not the one in Secret onyx-admin"
    );
}

#[tokio::test]
async fn the_api_rejecting_the_provider_is_a_clear_error() {
    let api = StandIn::start().await;
    api.state.lock().unwrap().reject_put = Some("Invalid API base: connection refused".into());
    let err = configure(&api, &vllm(), &MemStore::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Onyx's API at {} refused saving LLM provider onyx-openai-compatible: HTTP 400: Invalid API base: connection refused",
            api.url
        )
    );
    assert!(err.hint().unwrap().contains("Admin → LLM"));
}

#[tokio::test]
async fn an_api_that_does_not_answer() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let err = tokio::time::timeout(
        Duration::from_secs(20),
        llm::configure(&url, &vllm(), &MemStore::default()),
    )
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, LlmError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with(&format!("Onyx's API at {url} did not answer (logging in)")),
        "{err}"
    );
}

#[tokio::test]
async fn the_admin_login_lives_in_the_onyx_admin_secret() {
    use k8s_openapi::api::core::v1::Secret;
    onyx::init_tls();
    let (_sim, client) = k8s_sim::client::start().await;
    let store = SecretStore::new(client.clone(), "default");
    assert_eq!(store.load().await.unwrap(), None);

    let api = StandIn::start().await;
    let done = configure_with(&api, &store).await;
    assert!(done.registered_admin);
    let login = store.load().await.unwrap().expect("stored");
    let secret = kube::Api::<Secret>::namespaced(client, "default")
        .get("onyx-admin")
        .await
        .unwrap();
    let labels = secret.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "onyx");
    let registered: Value = serde_json::from_str(&api.requests()[1].body).unwrap();
    assert_eq!(registered["password"], login.password.as_str());
    // Never overwritten.
    assert!(store.create(&AdminLogin::generate()).await.is_err());
    assert_eq!(store.load().await.unwrap(), Some(login));
}

async fn configure_with(api: &StandIn, store: &SecretStore) -> llm::Configured {
    tokio::time::timeout(
        Duration::from_secs(20),
        llm::configure(&api.url, &vllm(), store),
    )
    .await
    .unwrap()
    .unwrap()
}
