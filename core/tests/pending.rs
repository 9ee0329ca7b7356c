//! The state between the two phases of a signed flow is plain data without secrets: it can be
//! cloned, compared, moved between threads, and printed, and it never holds the credentials
//! that phase one sent.

use suz_auth_core::flows::{MdlpCredentials, PendingSignature};
use suz_auth_core::Client;
use suz_emulator::{
    Emulator, EmulatorConfig, DEFAULT_OMS_CONNECTION, DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY,
    MDLP_CLIENT_ID, MDLP_CLIENT_SECRET,
};

fn plain_data<T: Clone + PartialEq + Send + Sync + std::fmt::Debug + 'static>(_: &T) {}

#[test]
fn the_pending_state_is_plain_data_without_secrets() {
    let emu = Emulator::start(EmulatorConfig::default()).unwrap();
    let client = Client::from_json(&format!(
        r#"{{"stand": "emulator", "emulator_url": "{}"}}"#,
        emu.base_url()
    ))
    .unwrap();
    let creds = MdlpCredentials::new(MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612");
    let pendings: Vec<PendingSignature> = vec![
        client.mdlp_begin(DEFAULT_OMS_CONNECTION, &creds).unwrap(),
        client.gismt_begin(DEFAULT_OMS_CONNECTION).unwrap(),
        client
            .register_begin(DEFAULT_OMS_ID, DEMO_REGISTRATION_KEY, "line 1")
            .unwrap(),
    ];
    for pending in &pendings {
        plain_data(pending);
        assert_eq!(pending.clone(), *pending);
        let printed = format!("{pending:?}");
        assert!(!printed.contains(MDLP_CLIENT_SECRET), "{printed}");
    }
    // Phase one really ran: the MDLP code is what is to be signed.
    assert_eq!(emu.stats()["requests"]["mdlp.auth"], 1);
    assert!(!pendings[0].data().is_empty());
}
