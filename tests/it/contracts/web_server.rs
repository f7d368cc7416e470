//! The web server's contracts (Onyx v2.3.0 `web/`): links built from the API's URL, listening on
//! every address.

use super::*;

/// Onyx v2.3.0 `web/src/lib/constants.ts`: `HOST_URL = process.env.WEB_DOMAIN ||
/// "http://127.0.0.1:3000"`; the web server gets the same URL as the API, from the same key.
#[test]
fn web_server_builds_links_from_the_same_url_as_the_api() {
    for s in every_stack() {
        let c = s.main("web-server");
        let r = env(c, "WEB_DOMAIN")
            .and_then(|e| e.value_from.as_ref())
            .and_then(|v| v.config_map_key_ref.as_ref())
            .expect("WEB_DOMAIN from the ConfigMap");
        assert_eq!(
            (r.name.as_str(), r.key.as_str()),
            ("onyx-config", "WEB_DOMAIN")
        );
    }
}

/// Onyx v2.3.0 `web/Dockerfile`: `USER nextjs` (uid 1001), `CMD ["node", "server.js"]`; Next.js's
/// standalone server.js binds to $HOSTNAME, which Kubernetes sets to the pod's name (its pod IP),
/// and the probes use 127.0.0.1: HOSTNAME=0.0.0.0.
#[test]
fn web_server_listens_on_every_address() {
    for s in every_stack() {
        let c = s.main("web-server");
        let psc = s.pod("web-server").security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_user, Some(1001));
        assert_eq!(command(c), "node server.js");
        assert_eq!(env_value(c, "HOSTNAME").as_deref(), Some("0.0.0.0"));
        assert_eq!(env_value(c, "PORT").as_deref(), Some("3000"));
        assert_eq!(env_value(c, "INTERNAL_URL"), None, "from the ConfigMap");
        assert_eq!(s.config("INTERNAL_URL"), "http://api-server:8080");
    }
}
