//! Counter tablets (`clover_signup::kiosk`): pairing once, recognised on every instance,
//! unpaired by a new link or a revocation.

use clover_signup::configuration::KioskSettings;
use clover_signup::kiosk::{
    DeviceName, DeviceState, Kiosk, KioskDevice, PairingRefused, Recognised, secret_hash,
};
use clover_signup::storage::now_ms;

use crate::TestStore;

on_both_stores!(
    a_pairing_link_pairs_one_tablet_once_and_every_instance_knows_it,
    a_new_link_or_a_revocation_unpairs_the_tablet,
    an_expired_link_pairs_nothing,
);

fn name(text: &str) -> DeviceName {
    DeviceName::parse(text).unwrap()
}

async fn a_pairing_link_pairs_one_tablet_once_and_every_instance_knows_it(store: TestStore) {
    let kiosk = Kiosk::new(KioskSettings::default(), store.instance().await.kiosks());
    let other = Kiosk::new(KioskSettings::default(), store.instance().await.kiosks());
    let (device, link) = kiosk.add(&name("Front counter")).await.unwrap();
    assert_eq!(device.state(now_ms()), DeviceState::Waiting);

    let (cookie, paired_as) = kiosk.pair(&link).await.unwrap().unwrap();
    assert_eq!(paired_as, "Front counter");
    assert_eq!(
        other.pair(&link).await.unwrap(),
        Err(PairingRefused::NotValid),
        "a link pairs one tablet"
    );
    let Recognised::Paired(seen) = other.recognise(Some(&cookie)).await.unwrap() else {
        panic!("the paired tablet is known on another instance");
    };
    assert_eq!(seen.id, device.id);
    assert_eq!(seen.source().as_str(), "kiosk:Front counter");
    let listed = kiosk.all().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state(now_ms()), DeviceState::Paired);
    assert!(listed[0].last_used_at_ms.is_some(), "its use is noted");

    for stranger in [None, Some("garbage")] {
        assert_eq!(
            kiosk.recognise(stranger).await.unwrap(),
            Recognised::Unknown,
            "{stranger:?}"
        );
    }
    // A cookie naming the device with another secret (its used link's, or a guess)
    // pairs nothing.
    let forged = format!("{}.{}", device.id, "A".repeat(43));
    for wrong in [forged.as_str(), link.as_str()] {
        assert_eq!(
            kiosk.recognise(Some(wrong)).await.unwrap(),
            Recognised::Unpaired
        );
    }
}

async fn a_new_link_or_a_revocation_unpairs_the_tablet(store: TestStore) {
    let kiosk = Kiosk::new(KioskSettings::default(), store.instance().await.kiosks());
    let (device, link) = kiosk.add(&name("Front")).await.unwrap();
    let (first, _) = kiosk.pair(&link).await.unwrap().unwrap();

    let again = kiosk.new_link(&device.id).await.unwrap().unwrap();
    let (second, _) = kiosk.pair(&again).await.unwrap().unwrap();
    assert_eq!(
        kiosk.recognise(Some(&first)).await.unwrap(),
        Recognised::Unpaired,
        "the tablet paired before is unpaired"
    );
    assert!(kiosk.rename(&device.id, &name("Patio")).await.unwrap());
    match kiosk.recognise(Some(&second)).await.unwrap() {
        Recognised::Paired(device) => assert_eq!(device.name, "Patio"),
        other => panic!("{other:?}"),
    }

    kiosk.signed_up(&device.id).await.unwrap();
    match kiosk.recognise(Some(&second)).await.unwrap() {
        Recognised::Paired(device) => assert!(device.last_signup_at_ms.is_some()),
        other => panic!("{other:?}"),
    }

    assert!(kiosk.revoke(&device.id).await.unwrap());
    assert!(
        !kiosk.rename(&device.id, &name("Back")).await.unwrap(),
        "a revoked tablet is not renamed"
    );
    assert_eq!(
        kiosk.recognise(Some(&second)).await.unwrap(),
        Recognised::Unpaired
    );
    assert_eq!(kiosk.new_link(&device.id).await.unwrap(), None);
    assert_eq!(
        kiosk.all().await.unwrap()[0].state(now_ms()),
        DeviceState::Revoked
    );
    assert!(!kiosk.revoke("no-such-device").await.unwrap());
}

async fn an_expired_link_pairs_nothing(store: TestStore) {
    let devices = store.instance().await.kiosks();
    let now = now_ms();
    let device = KioskDevice {
        id: "8f9c2a4e-3b1d-4c5e-9f60-7a8b9c0d1e2f".into(),
        name: "Late".into(),
        created_at_ms: now - 20 * 60_000,
        pairing_expires_ms: Some(now - 1),
        paired_at_ms: None,
        last_used_at_ms: None,
        last_signup_at_ms: None,
        revoked_at_ms: None,
    };
    devices.add(&device, &secret_hash("s")).await.unwrap();
    let paired = devices
        .pair(&device.id, &secret_hash("s"), &secret_hash("c"), now)
        .await
        .unwrap();
    assert_eq!(paired, None);
    assert_eq!(
        devices.all().await.unwrap()[0].state(now),
        DeviceState::NotPaired
    );
}
