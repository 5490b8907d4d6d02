//! A real compute node for the command line's tests: the `more-server` application on
//! 127.0.0.1:0 in its own thread, stopped when dropped; optionally with tokens and tenants.
#![allow(dead_code)]

use std::path::Path;

use more_server::auth::{api_keys, Role};
use more_server::{Application, Settings};

/// A node on 127.0.0.1:0 in its own thread; stopped when dropped.
pub struct Node {
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// A node whose requests without a token act as the local tenant: tests of the CLI's data
    /// handling (its bearer token is checked by `token_is_sent_as_bearer`, and against a node
    /// that needs one by the secure tests and python/tests/test_interop.py).
    pub fn start(data_dir: &Path) -> Node {
        Self::start_with(data_dir, true)
    }

    /// A node that needs a token, with one trainer API key per tenant in `tenants` (created
    /// before it serves): the node and the keys, in the order of `tenants`.
    pub fn with_tenants(data_dir: &Path, tenants: &[&str]) -> (Node, Vec<String>) {
        std::fs::create_dir_all(data_dir).expect("data dir");
        let db_url = format!("sqlite://{}?mode=rwc", data_dir.join("more.db").display());
        let node = Self::start_with(data_dir, false);
        let keys = runtime().block_on(async {
            let db = more_server::db::Db::connect(&db_url).await.expect("db");
            let mut keys = Vec::new();
            for t in tenants {
                api_keys::create_tenant(&db, t).await.expect("tenant");
                keys.push(
                    api_keys::create_key(&db, t, Role::Trainer)
                        .await
                        .expect("api key")
                        .key,
                );
            }
            keys
        });
        (node, keys)
    }

    fn start_with(data_dir: &Path, insecure_no_auth: bool) -> Node {
        let settings = Settings {
            data_dir: data_dir.to_path_buf(),
            bind: "127.0.0.1:0".into(),
            web_dir: data_dir.join("no-web"),
            handle_signals: false,
            insecure_no_auth,
            ..Settings::default()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let app = Application::build(settings).await.expect("build");
                tx.send((app.port(), app.handle())).expect("send");
                app.run_until_stopped().await.expect("run");
            });
        });
        let (port, handle) = rx.recv().expect("server started");
        Node {
            url: format!("http://127.0.0.1:{port}"),
            handle,
            thread: Some(thread),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Drop for Node {
    fn drop(&mut self) {
        let h = self.handle.clone();
        std::thread::spawn(move || runtime().block_on(h.stop(false)))
            .join()
            .ok();
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}
