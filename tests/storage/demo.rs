//! The demo stand-in's customers (`clover_signup::clover::DemoCustomers`).

use clover_signup::clover::DemoCustomer;

use crate::TestStore;

on_both_stores!(
    the_demo_stand_in_keeps_its_customers,
    the_demo_stand_ins_customers_are_erased_with_the_retention_cutoff,
);

async fn the_demo_stand_in_keeps_its_customers(store: TestStore) {
    let demo = store.instance().await.demo_customers();
    demo.add(DemoCustomer {
        id: "DEMO000000001".into(),
        first_name: None,
        last_name: Some("Lovelace".into()),
        emails: vec!["Ada@Example.com".into()],
        phones: vec![],
        note: Some("web signup".into()),
        customer_since: Some(1_700_000_000_000),
    })
    .await
    .unwrap();

    assert!(
        demo.add_phone("DEMO000000001", "+15555550100")
            .await
            .unwrap()
    );
    assert!(
        demo.set_names("DEMO000000001", Some("Ada"), None)
            .await
            .unwrap()
    );
    assert!(
        !demo
            .add_phone("NOSUCHCUSTOMR", "+15555550100")
            .await
            .unwrap()
    );

    let found = demo.with_email("ada@example.COM").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].first_name.as_deref(), Some("Ada"));
    assert_eq!(found[0].last_name.as_deref(), Some("Lovelace"));
    assert_eq!(found[0].phones, vec!["+15555550100".to_owned()]);
    assert!(
        demo.with_email("grace@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_demo_stand_ins_customers_are_erased_with_the_retention_cutoff(store: TestStore) {
    let demo = store.instance().await.demo_customers();
    for (id, email, since) in [
        ("DEMO000000OLD", "old@example.com", 1_700_000_000_000),
        ("DEMO000000NEW", "new@example.com", 1_800_000_000_000),
    ] {
        demo.add(DemoCustomer {
            id: id.into(),
            first_name: Some("Ada".into()),
            last_name: None,
            emails: vec![email.into()],
            phones: vec!["+15555550100".into()],
            note: None,
            customer_since: Some(since),
        })
        .await
        .unwrap();
    }

    let erased = demo.erase_before(1_750_000_000_000).await.unwrap();

    assert_eq!(erased, 1);
    let old = demo.with_email("old@example.com").await;
    assert!(old.unwrap().is_empty(), "kept past the cutoff");
    let new = demo.with_email("new@example.com").await;
    assert_eq!(new.unwrap().len(), 1);
}
