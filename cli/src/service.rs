//! `suz keep --service NAME`: the keeper as a Windows service. The service control manager
//! starts `suz.exe` with the command line given to `sc.exe create … binPath=`; this process
//! connects to it (`StartServiceCtrlDispatcher`), reports itself running, keeps the tokens,
//! and on a Stop or Shutdown control ends its loop and reports itself stopped. Elsewhere
//! `--service` is refused: systemd runs the keeper as it is (packaging/systemd).

use std::sync::mpsc::Receiver;

use suz_auth_core::Error;

/// What the service runs: the keeper, until the receiver gets a message or is dropped.
pub type Job = Box<dyn FnOnce(Receiver<()>) -> Result<(), Error> + Send>;

#[cfg(not(windows))]
pub fn run(_name: &str, _job: Job) -> Result<(), Error> {
    Err(Error::invalid_argument(
        "--service runs the keeper as a Windows service; on Linux run `suz keep` itself under systemd (packaging/systemd/suz-keep.service)",
    ))
}

#[cfg(windows)]
pub use windows::run;

#[cfg(windows)]
mod windows {
    use std::ffi::OsString;
    use std::sync::mpsc::channel;
    use std::sync::Mutex;
    use std::time::Duration;

    use windows_service::service::{
        ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus,
        ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::{define_windows_service, service_dispatcher};

    use super::Job;
    use crate::say;
    use suz_auth_core::Error;

    /// The service's name and job, from `main`'s thread to the one the dispatcher starts.
    static JOB: Mutex<Option<(String, Job)>> = Mutex::new(None);

    define_windows_service!(ffi_service_main, service_main);

    /// Runs `job` as the service `name`; returns when the service stopped.
    pub fn run(name: &str, job: Job) -> Result<(), Error> {
        *JOB.lock().unwrap_or_else(|e| e.into_inner()) = Some((name.to_owned(), job));
        service_dispatcher::start(name, ffi_service_main).map_err(|e| {
            let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            Error::invalid_argument(format!(
                "--service {name}: not started by the service control manager ({why}); create the service with sc.exe and start it with `sc.exe start {name}`"
            ))
        })
    }

    fn status(state: ServiceState, exit: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: match state {
                ServiceState::Running => {
                    ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
                }
                _ => ServiceControlAccept::empty(),
            },
            exit_code: if exit == 0 {
                ServiceExitCode::Win32(0)
            } else {
                ServiceExitCode::ServiceSpecific(exit)
            },
            checkpoint: 0,
            wait_hint: Duration::from_secs(if state == ServiceState::StopPending {
                30
            } else {
                0
            }),
            process_id: None,
        }
    }

    fn service_main(_arguments: Vec<OsString>) {
        let Some((name, job)) = JOB.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let (stop, stopped) = channel();
        let handler = move |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                let _ = stop.send(());
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let handle = match service_control_handler::register(&name, handler) {
            Ok(handle) => handle,
            Err(e) => {
                say!("suz keep: service {name}: cannot register its control handler: {e}");
                return;
            }
        };
        let _ = handle.set_service_status(status(ServiceState::Running, 0));
        say!("suz keep: running as the service {name}");
        let exit = match job(stopped) {
            Ok(()) => 0,
            Err(e) => {
                say!("suz keep: service {name}: {}: {e}", e.kind.name());
                e.kind.code()
            }
        };
        say!("suz keep: service {name} stopped");
        let _ = handle.set_service_status(status(ServiceState::Stopped, exit));
    }
}
