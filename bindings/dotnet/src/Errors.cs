// Result codes and the exceptions they become, with what the library recorded of the failure.
using System;

namespace SuzAuth
{
    /// <summary>The library's result codes (SuzResult in suz_auth.h).</summary>
    public enum ResultCode : uint
    {
        Ok = 0, NullArgument = 1, InvalidUtf8 = 2, InvalidArgument = 3, Config = 4, Connect = 5,
        Timeout = 6, Tls = 7, Unauthorized = 8, PayloadTooLarge = 9, TooManyRequests = 10,
        HttpClientError = 11, HttpServerError = 12, Protocol = 13, RegistrationRejected = 14,
        SignerFailed = 15, Panic = 16, Store = 17, InProgress = 18, LeaseLost = 19, NotKept = 20,
    }

    /// <summary>A failed call: the result code, the library's message, and what the server said.
    /// Never holds a secret (the library keeps them out of its messages).</summary>
    public class SuzException : Exception
    {
        public ResultCode Code { get; }
        /// <summary>The code's name, e.g. SUZ_RESULT_UNAUTHORIZED.</summary>
        public string ResultName { get { return Utf8.Borrowed(Native.suz_result_name((uint)Code)); } }
        /// <summary>The HTTP status of the answer that failed the call; 0 if there was none.</summary>
        public int HttpStatus { get; }
        /// <summary>The server's own error code ("" if it sent none).</summary>
        public string ServerCode { get; }
        /// <summary>The server's error text ("" if it sent none).</summary>
        public string ServerMessage { get; }
        /// <summary>The server's Retry-After, when it sent one.</summary>
        public TimeSpan? RetryAfter { get; }
        /// <summary>The RqUID of the last SmartMarket request sent ("" for other services).</summary>
        public string RqUID { get; }

        public SuzException(ResultCode code, string message, int httpStatus, string serverCode,
            string serverMessage, TimeSpan? retryAfter, string rquid, Exception inner)
            : base(message, inner)
        {
            Code = code;
            HttpStatus = httpStatus;
            ServerCode = serverCode;
            ServerMessage = serverMessage;
            RetryAfter = retryAfter;
            RqUID = rquid;
        }

        /// <summary>The failure of the call that just returned `code`, read on this thread.</summary>
        internal static SuzException FromLast(uint code, Exception inner)
        {
            var c = (ResultCode)code;
            string message = Utf8.Borrowed(Native.suz_last_error_message());
            int status = Native.suz_last_http_status();
            string serverCode = Utf8.Borrowed(Native.suz_last_server_code());
            string serverMessage = Utf8.Borrowed(Native.suz_last_server_message());
            long retry = Native.suz_last_retry_after_ms();
            TimeSpan? retryAfter = retry >= 0 ? TimeSpan.FromMilliseconds(retry) : (TimeSpan?)null;
            string rquid = Utf8.Borrowed(Native.suz_last_rquid());
            switch (c)
            {
                case ResultCode.NullArgument:
                case ResultCode.InvalidUtf8:
                case ResultCode.InvalidArgument:
                    return new InvalidArgumentException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Config: return new ConfigException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Connect: return new ConnectException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Timeout: return new SuzTimeoutException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Tls: return new TlsException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Unauthorized: return new UnauthorizedException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.PayloadTooLarge: return new PayloadTooLargeException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.TooManyRequests: return new TooManyRequestsException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.HttpClientError: return new HttpClientErrorException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.HttpServerError: return new HttpServerErrorException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Protocol: return new ProtocolException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.RegistrationRejected: return new RegistrationRejectedException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.SignerFailed: return new SignerException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.Store: return new StoreException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.InProgress: return new InProgressException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.LeaseLost: return new LeaseLostException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                case ResultCode.NotKept: return new NotKeptException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
                default: return new SuzException(c, message, status, serverCode, serverMessage, retryAfter, rquid, inner);
            }
        }
    }

    /// <summary>NULL, invalid UTF-8 or an invalid argument reached the library.</summary>
    public class InvalidArgumentException : SuzException { public InvalidArgumentException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class ConfigException : SuzException { public ConfigException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class ConnectException : SuzException { public ConnectException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class SuzTimeoutException : SuzException { public SuzTimeoutException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class TlsException : SuzException { public TlsException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class UnauthorizedException : SuzException { public UnauthorizedException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class PayloadTooLargeException : SuzException { public PayloadTooLargeException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class TooManyRequestsException : SuzException { public TooManyRequestsException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class HttpClientErrorException : SuzException { public HttpClientErrorException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class HttpServerErrorException : SuzException { public HttpServerErrorException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class ProtocolException : SuzException { public ProtocolException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class RegistrationRejectedException : SuzException { public RegistrationRejectedException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    /// <summary>The signer failed; an exception the signer threw is the InnerException.</summary>
    public class SignerException : SuzException { public SignerException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class StoreException : SuzException { public StoreException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class InProgressException : SuzException { public InProgressException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class LeaseLostException : SuzException { public LeaseLostException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
    public class NotKeptException : SuzException { public NotKeptException(ResultCode c, string m, int s, string sc, string sm, TimeSpan? r, string q, Exception i) : base(c, m, s, sc, sm, r, q, i) { } }
}
