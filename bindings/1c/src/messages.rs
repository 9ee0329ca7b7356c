//! The add-in's error texts in the platform's interface language.
//!
//! The platform tells an add-in object its user's interface language through
//! `UserLanguageBase::SetUserInterfaceLanguageCode` (8.3.21 and newer: a code such as `ru` or
//! `en`) and, on every version, its locale through `LocaleBase::SetLocale` (`ru_RU`, `en_US`).
//! Errors read in Russian when that language is Russian, in English otherwise; with neither
//! call (an older platform that sent nothing), in Russian, the product's language.
//!
//! What a server said (its code and text) is kept as it came, in either language. The core's
//! detailed diagnostic (which key, which host, which step) stays English and follows the
//! Russian summary after «Подробности:».

use suz_auth_core::{Error, ErrorKind};

/// The language of the add-in's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Russian,
    English,
}

impl Language {
    /// The language a platform code names: `ru`, `ru_RU`, `ru-RU`, `Russian` are Russian; any
    /// other non-empty code is English (the add-in speaks no third language); an empty one
    /// says nothing.
    pub fn from_code(code: &str) -> Option<Language> {
        let code = code.trim().to_lowercase();
        if code.is_empty() {
            return None;
        }
        let russian = code == "ru"
            || code.starts_with("ru_")
            || code.starts_with("ru-")
            || code.starts_with("russian")
            || code.starts_with("русский");
        Some(if russian {
            Language::Russian
        } else {
            Language::English
        })
    }
}

/// What the platform said about the language, and the language that follows.
#[derive(Clone, Copy, Debug, Default)]
pub struct LanguageSettings {
    /// From `SetUserInterfaceLanguageCode`: the user's interface language. Wins.
    pub interface: Option<Language>,
    /// From `SetLocale`: the locale, for platforms that send no interface language.
    pub locale: Option<Language>,
}

impl LanguageSettings {
    pub fn language(&self) -> Language {
        self.interface.or(self.locale).unwrap_or(Language::Russian)
    }
}

/// A failed call: the core's error, or one the add-in found itself (a wrong parameter), which
/// it words in both languages.
///
/// The code and the HTTP status are plain fields, read without looking at which of the two it
/// is: an optimised `match` over the variants reads the other variant's bytes speculatively,
/// which valgrind reports as a jump on uninitialised memory.
#[derive(Debug)]
pub struct Failure {
    kind: ErrorKind,
    http_status: u16,
    words: Words,
}

#[derive(Debug)]
enum Words {
    Core(Box<Error>),
    Own { en: String, ru: String },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure {
            kind: e.kind,
            http_status: e.http_status.unwrap_or(0),
            words: Words::Core(Box::new(e)),
        }
    }
}

impl Failure {
    /// An error of `kind` the add-in found, in both languages.
    pub fn own(kind: ErrorKind, en: impl Into<String>, ru: impl Into<String>) -> Failure {
        Failure {
            kind,
            http_status: 0,
            words: Words::Own {
                en: en.into(),
                ru: ru.into(),
            },
        }
    }

    /// An error about an argument, in both languages.
    pub fn invalid_argument(en: impl Into<String>, ru: impl Into<String>) -> Failure {
        Failure::own(ErrorKind::InvalidArgument, en, ru)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The status of the answer that caused the error; 0 when there was none.
    pub fn http_status(&self) -> u16 {
        self.http_status
    }

    /// The text `ОписаниеОшибки` shows and `AddError` reports, ending with the code's name.
    pub fn text(&self, language: Language) -> String {
        let name = self.kind.name();
        match (&self.words, language) {
            (Words::Own { en, .. }, Language::English) => format!("{en} ({name})"),
            (Words::Own { ru, .. }, Language::Russian) => format!("{ru} ({name})"),
            (Words::Core(e), Language::English) => format!("{e} ({name})"),
            (Words::Core(e), Language::Russian) => format!(
                "{}{}. Подробности: {} ({name})",
                summary_ru(e.kind),
                server_detail_ru(e),
                e.message
            ),
        }
    }
}

/// ` (HTTP 401, код сервера 4: текст сервера)`: the answer's status and the server's own code
/// and text, as they came.
fn server_detail_ru(e: &Error) -> String {
    let mut head = Vec::new();
    if let Some(status) = e.http_status {
        head.push(format!("HTTP {status}"));
    }
    if let Some(code) = &e.server_code {
        head.push(format!("код сервера {code}"));
    }
    let head = head.join(", ");
    match (head.is_empty(), &e.server_message) {
        (true, None) => String::new(),
        (true, Some(text)) => format!(" ({text})"),
        (false, None) => format!(" ({head})"),
        (false, Some(text)) => format!(" ({head}: {text})"),
    }
}

/// What an error of `kind` means, in Russian, for the head of the message.
pub fn summary_ru(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NullArgument => "Не передан обязательный параметр",
        ErrorKind::InvalidUtf8 => "Строка в неверной кодировке",
        ErrorKind::InvalidArgument => "Неверный параметр",
        ErrorKind::Config => "Ошибка в настройках компоненты",
        ErrorKind::Connect => "Нет соединения с сервером",
        ErrorKind::Timeout => "Истекло время ожидания",
        ErrorKind::Tls => "Ошибка защищённого соединения (TLS)",
        ErrorKind::Unauthorized => "Сервер не принял подпись или учётные данные",
        ErrorKind::PayloadTooLarge => "Сервер отклонил запрос как слишком большой",
        ErrorKind::TooManyRequests => "Слишком много запросов: сервер просит повторить позже",
        ErrorKind::HttpClientError => "Сервер отклонил запрос",
        ErrorKind::HttpServerError => "Ошибка на стороне сервера",
        ErrorKind::Protocol => "Ответ сервера не соответствует протоколу",
        ErrorKind::RegistrationRejected => "СУЗ отклонил регистрацию установки",
        ErrorKind::SignerFailed => "Подпись не получена или это не подпись CMS",
        ErrorKind::Panic => "Внутренняя ошибка компоненты (сообщите разработчикам)",
        ErrorKind::Store => "Кэш токенов недоступен (каталог cache.dir или Redis)",
        ErrorKind::InProgress => "Токен сейчас получает другой сеанс: повторите позже",
        ErrorKind::LeaseLost => {
            "Аренда установки истекла и перешла другому сеансу, ничего не отправлено"
        }
        ErrorKind::NotKept => {
            "Токен обслуживает хранитель (suz keep), а действующего токена в хранилище нет"
        }
        // ErrorKind is #[non_exhaustive]: a kind added to the core reads like this until it
        // is worded here (the test below lists every kind the core has).
        _ => "Ошибка",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_russian_summary() {
        let mut seen = std::collections::HashSet::new();
        for &kind in ErrorKind::ALL {
            let s = summary_ru(kind);
            assert_ne!(s, "Ошибка", "{} has no Russian summary", kind.name());
            assert!(seen.insert(s), "{} repeats a summary", kind.name());
        }
    }

    #[test]
    fn language_codes() {
        for ru in ["ru", "RU", "ru_RU", "ru-RU", "Russian_Russia", "русский"] {
            assert_eq!(Language::from_code(ru), Some(Language::Russian), "{ru}");
        }
        for en in ["en", "en_US", "English", "uk", "de_DE"] {
            assert_eq!(Language::from_code(en), Some(Language::English), "{en}");
        }
        assert_eq!(Language::from_code(""), None);
        assert_eq!(Language::from_code("  "), None);
    }

    #[test]
    fn interface_language_wins_over_locale_and_russian_is_the_default() {
        let mut s = LanguageSettings::default();
        assert_eq!(s.language(), Language::Russian);
        s.locale = Some(Language::English);
        assert_eq!(s.language(), Language::English);
        s.interface = Some(Language::Russian);
        assert_eq!(s.language(), Language::Russian);
    }

    #[test]
    fn server_text_kept_as_it_came_in_russian() {
        let mut e = Error::new(ErrorKind::Unauthorized, "gismt: token request refused");
        e.http_status = Some(401);
        e.server_code = Some("4".into());
        e.server_message = Some("Invalid signature".into());
        assert_eq!(
            Failure::from(e.clone()).text(Language::Russian),
            "Сервер не принял подпись или учётные данные (HTTP 401, код сервера 4: Invalid signature). \
             Подробности: gismt: token request refused (SUZ_RESULT_UNAUTHORIZED)"
        );
        assert_eq!(
            Failure::from(e).text(Language::English),
            "gismt: token request refused (HTTP 401, server code 4: Invalid signature) (SUZ_RESULT_UNAUTHORIZED)"
        );
    }
}
