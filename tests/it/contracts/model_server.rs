//! The model server's contract (Onyx v2.3.0 `backend/Dockerfile.model_server`): its models stay
//! in the image.

use super::*;

/// Onyx v2.3.0 `backend/Dockerfile.model_server` bakes four whole Hugging Face repositories into
/// /app/.cache/temp_huggingface and `backend/model_server/main.py` moves them into
/// /app/.cache/huggingface at start; helm's `templates/inference-model-deployment.yaml` mounts no
/// cache. No volume may hold them (a small one stops the move halfway), none is over /app/.cache.
#[test]
fn model_server_keeps_its_models_in_the_image() {
    for s in every_stack() {
        let c = s.main("inference-model-server");
        assert!(
            c.volume_mounts
                .iter()
                .flatten()
                .all(|m| !m.mount_path.starts_with("/app/.cache"))
        );
        assert!(
            !s.objects
                .iter()
                .any(|r| r.service == Some("inference-model-server")
                    && matches!(r.object, Object::PersistentVolumeClaim(_))),
            "{}",
            s.label
        );
        assert_eq!(
            env_value(c, "HF_HUB_OFFLINE").as_deref(),
            s.hub_offline.then_some("1"),
            "{}",
            s.label
        );
        // The image's own CMD, port 9000, health /api/health (backend/model_server/main.py).
        assert_eq!(
            command(c),
            "uvicorn model_server.main:app --host 0.0.0.0 --port 9000"
        );
        let path = c
            .readiness_probe
            .as_ref()
            .unwrap()
            .http_get
            .as_ref()
            .unwrap()
            .path
            .as_deref();
        assert_eq!(path, Some("/api/health"));
        assert_eq!(
            s.pod("inference-model-server")
                .security_context
                .as_ref()
                .unwrap()
                .run_as_user,
            Some(1001)
        );
    }
}
