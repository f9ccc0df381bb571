//! The credential vault (`clover_signup::clover::vault`).

use std::time::Duration;

use clover_signup::clover::vault::{EnteredToken, OAuthPair};
use clover_signup::storage::SecretCipher;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::TestStore;

on_both_stores!(the_credential_is_stored_encrypted_and_read_back,);

async fn the_credential_is_stored_encrypted_and_read_back(store: TestStore) {
    let db = store.instance().await;
    let cipher = SecretCipher::from_secret_key(&SecretSlice::from(vec![7u8; 32]));
    assert!(db.credentials().load_pair(&cipher).await.unwrap().is_none());
    let pair = OAuthPair {
        merchant_id: "MERCHANT00001".into(),
        access_token: SecretString::from("access-1"),
        access_expires_at: Some(1_800_000_000),
        refresh_token: Some(SecretString::from("refresh-1")),
        refresh_expires_at: Some(1_900_000_000),
        previous_refresh_token: None,
        last_refresh_at: Some(1_700_000_000),
        needs_authorization: None,
        recovery_pending: true,
    };
    db.credentials().save_pair(&pair, &cipher).await.unwrap();

    let other = store.instance().await;
    let read = other
        .credentials()
        .load_pair(&cipher)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.access_token.expose_secret(), "access-1");
    assert_eq!(read.refresh_token.unwrap().expose_secret(), "refresh-1");
    assert_eq!(read.access_expires_at, Some(1_800_000_000));
    assert!(read.recovery_pending);
    assert!(
        other
            .credentials()
            .load_token(&cipher)
            .await
            .unwrap()
            .is_none(),
        "the row holds an OAuth pair, not an API token"
    );
    let wrong_key = SecretCipher::from_secret_key(&SecretSlice::from(vec![8u8; 32]));
    assert!(
        other.credentials().load_pair(&wrong_key).await.is_err(),
        "tokens are encrypted with the secret key"
    );
}

on_both_stores!(an_entered_token_replaces_the_pair_and_is_read_back_as_a_token,);

async fn an_entered_token_replaces_the_pair_and_is_read_back_as_a_token(store: TestStore) {
    let db = store.instance().await;
    let cipher = SecretCipher::from_secret_key(&SecretSlice::from(vec![7u8; 32]));
    let vault = db.credentials();
    let entered = EnteredToken {
        merchant_id: "MERCHANT00001".into(),
        token: SecretString::from("entered-token"),
        replaces_env_digest: Some("hmac1:abc".into()),
    };
    vault.save_token(&entered, &cipher).await.unwrap();

    let read = vault.load_token(&cipher).await.unwrap().unwrap();
    assert_eq!(read.token.expose_secret(), "entered-token");
    assert_eq!(read.merchant_id, "MERCHANT00001");
    assert!(read.applies_over("hmac1:abc"));
    assert!(!read.applies_over("hmac1:other"));
    assert!(
        vault.load_pair(&cipher).await.unwrap().is_none(),
        "the row holds a token, not an OAuth pair"
    );
}

/// PostgreSQL only: with SQLite one process owns the file, and the credential's own mutex
/// keeps refreshes apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_instance_at_a_time_holds_the_credential_lock() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let (a, b) = (store.instance().await, store.instance().await);
    let held = a.credentials().lock(Duration::from_secs(10)).await.unwrap();
    assert!(held.still_held().await);

    assert!(
        b.credentials()
            .lock(Duration::from_millis(300))
            .await
            .is_err(),
        "b got the lock while a held it, or waited longer than asked"
    );
    let waiting = tokio::spawn(async move {
        b.credentials()
            .lock(Duration::from_secs(10))
            .await
            .map(drop)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "b got the lock while a held it");

    drop(held);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("b gets the lock once a lets go")
        .unwrap()
        .unwrap();
}

/// PostgreSQL only: a lock whose session ended (a network failure, a failover) is known
/// to be lost, so no token is spent or stored under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_lock_whose_session_ended_is_known_to_be_lost() {
    let Some(store) = TestStore::postgres().await else {
        return;
    };
    let db = store.instance().await;
    let held = db
        .credentials()
        .lock(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(held.still_held().await);

    let (admin, connection) =
        tokio_postgres::connect(store.url.as_ref().unwrap(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND database = (
                 SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .await
        .unwrap();

    assert!(!held.still_held().await);
    let other = store.instance().await;
    assert!(
        other
            .credentials()
            .lock(Duration::from_secs(5))
            .await
            .is_ok()
    );
}
