// The public API: Client, Signer, Token, Pending, Response, and the log.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace SuzAuth
{
    public enum Flow : uint { Mdlp = 1, Gismt = 2, TrueApi = 3, SmartMarket = 4, TrueApiToken = 5, UnitedToken = 6, GismtToken = 7, MdlpSession = 8 }

    public enum SignatureKind : uint { Attached = 1, Detached = 2 }

    public enum LogLevel : uint { Error = 1, Warn = 2, Info = 3, Debug = 4 }

    /// <summary>UTF-8 in and out of the library.</summary>
    internal static class Utf8
    {
        /// <summary>A NUL-terminated UTF-8 copy; null stays null (NULL) unless the argument is required.</summary>
        internal static byte[] Arg(string value, string name, bool required = true)
        {
            if (value == null)
            {
                if (required) throw new ArgumentNullException(name);
                return null;
            }
            if (value.IndexOf('\0') >= 0) throw new ArgumentException(name + " contains a NUL character", name);
            int n = Encoding.UTF8.GetByteCount(value);
            var bytes = new byte[n + 1];
            Encoding.UTF8.GetBytes(value, 0, value.Length, bytes, 0);
            return bytes;
        }

        /// <summary>A copy of a string the library lends (NULL is "").</summary>
        internal static string Borrowed(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var bytes = new byte[len];
            Marshal.Copy(p, bytes, 0, len);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Takes a string the library allocated: copied, then freed.</summary>
        internal static string Take(IntPtr p)
        {
            try { return Borrowed(p); }
            finally { Native.suz_string_free(p); }
        }

        internal static byte[] Bytes(IntPtr p, UIntPtr len)
        {
            var bytes = new byte[checked((int)len.ToUInt64())];
            if (bytes.Length > 0) Marshal.Copy(p, bytes, 0, bytes.Length);
            return bytes;
        }
    }

    /// <summary>Reading the result of a call on the thread that made it.</summary>
    internal static class Check
    {
        /// <summary>The exception a signer threw on this thread, until the failing call picks it up.</summary>
        [ThreadStatic] internal static Exception SignerThrew;

        internal static void Ok(uint code)
        {
            Exception thrown = SignerThrew;
            SignerThrew = null;
            if (code == 0) return;
            throw SuzException.FromLast(code, code == (uint)ResultCode.SignerFailed ? thrown : null);
        }
    }

    /// <summary>A token: value (a secret: never log it whole), flow and lifetime.</summary>
    public sealed class Token : IDisposable
    {
        internal readonly TokenHandle Handle;
        internal Token(TokenHandle handle) { Handle = handle; }

        public string Value { get { return Utf8.Borrowed(Native.suz_token_value(Live())); } }
        public Flow Flow { get { return (Flow)Native.suz_token_flow(Live()); } }
        public DateTimeOffset ObtainedAt { get { return DateTimeOffset.FromUnixTimeMilliseconds(Native.suz_token_obtained_at_ms(Live())); } }
        public DateTimeOffset ExpiresAt { get { return DateTimeOffset.FromUnixTimeMilliseconds(Native.suz_token_expires_at_ms(Live())); } }

        /// <summary>The first four characters and the length: safe to log.</summary>
        public override string ToString()
        {
            if (Handle.IsClosed) return "Token(disposed)";
            string v = Value;
            return "Token(" + Flow + ", " + (v.Length > 4 ? v.Substring(0, 4) : "") + "…" + v.Length + " chars, expires " + ExpiresAt.ToString("u") + ")";
        }

        internal TokenHandle Live()
        {
            if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Token));
            return Handle;
        }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>How a flow's bytes are signed: a .NET function, or an external command.</summary>
    public sealed class Signer : IDisposable
    {
        internal readonly SignerHandle Handle;
        private Signer(SignerHandle handle) { Handle = handle; }

        // Kept alive for the life of the process: native code holds pointers to them.
        private static readonly SignCallback SignTrampoline = Sign;
        private static readonly UserdataFree FreeTrampoline = Free;

        /// <summary>A signer calling `sign(data, kind)` on the thread that runs the flow. It
        /// returns the signature (DER, BER, PEM or base64 text as bytes). An exception it throws
        /// fails the flow with a SignerException whose InnerException is that exception.
        /// With anyThread, `sign` may also run on a thread of the library's, which then
        /// refreshes a token ahead of its expiry while every caller gets the valid one (an
        /// exception there is logged and the valid token kept).</summary>
        public static Signer FromFunction(Func<byte[], SignatureKind, byte[]> sign, bool anyThread = false)
        {
            if (sign == null) throw new ArgumentNullException(nameof(sign));
            // Freed by the library through userdata_free when it drops the signer.
            GCHandle keep = GCHandle.Alloc(sign);
            SignerHandle handle;
            uint rc = anyThread
                ? Native.suz_signer_new_callback_any_thread(SignTrampoline, GCHandle.ToIntPtr(keep), FreeTrampoline, out handle)
                : Native.suz_signer_new_callback(SignTrampoline, GCHandle.ToIntPtr(keep), FreeTrampoline, out handle);
            if (rc != 0)
            {
                keep.Free(); // not kept on failure
                Check.Ok(rc);
            }
            return new Signer(handle);
        }

        /// <summary>A signer running a command: {"attached": [argv], "detached": [argv], "timeout_ms": N}.</summary>
        public static Signer FromCommand(string commandJson)
        {
            SignerHandle handle;
            Check.Ok(Native.suz_signer_new_command(Utf8.Arg(commandJson, nameof(commandJson)), out handle));
            return new Signer(handle);
        }

        private static int Sign(IntPtr userdata, IntPtr data, UIntPtr len, uint kind, IntPtr sink)
        {
            try
            {
                var fn = (Func<byte[], SignatureKind, byte[]>)GCHandle.FromIntPtr(userdata).Target;
                byte[] signature = fn(Utf8.Bytes(data, len), (SignatureKind)kind);
                if (signature == null) throw new InvalidOperationException("the signer returned null");
                Native.suz_signature_sink_write(sink, signature, (UIntPtr)signature.Length);
                return 0;
            }
            catch (Exception e)
            {
                // Never into native code: reported, and rethrown to the caller as InnerException.
                Check.SignerThrew = e;
                try { Native.suz_signature_sink_fail(sink, Utf8.Arg(e.GetType().Name + ": " + e.Message.Replace('\0', ' '), "message")); }
                catch (Exception) { /* the flow still fails: the callback returns 1 */ }
                return 1;
            }
        }

        private static void Free(IntPtr userdata)
        {
            try { GCHandle.FromIntPtr(userdata).Free(); }
            catch (Exception) { /* nothing may cross into native code */ }
        }

        internal SignerHandle Live()
        {
            if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Signer));
            return Handle;
        }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>A signed flow between its two phases: sign Data as Kind says (anywhere), then
    /// finish it with Client.FinishToken / FinishRegistration / Complete. One thread at a time.</summary>
    public sealed class Pending : IDisposable
    {
        internal readonly PendingHandle Handle;
        internal Pending(PendingHandle handle) { Handle = handle; }

        /// <summary>The exact bytes to sign.</summary>
        public byte[] Data
        {
            get
            {
                IntPtr p;
                UIntPtr len;
                Check.Ok(Native.suz_pending_data(Live(), out p, out len));
                return Utf8.Bytes(p, len);
            }
        }

        public SignatureKind Kind { get { return (SignatureKind)Native.suz_pending_kind(Live()); } }

        /// <summary>The state as text (no secrets), for Client.ImportPending in another process.</summary>
        public string Export()
        {
            IntPtr s;
            Check.Ok(Native.suz_pending_export(Live(), out s));
            return Utf8.Take(s);
        }

        internal PendingHandle Live()
        {
            if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Pending));
            return Handle;
        }

        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>The answer to Client.Request, whatever its status.</summary>
    public sealed class Response
    {
        public int Status { get; private set; }
        public byte[] Body { get; private set; }
        public IReadOnlyList<KeyValuePair<string, string>> Headers { get; private set; }
        public string BodyText { get { return Encoding.UTF8.GetString(Body); } }

        /// <summary>A header's value (case-insensitive name), or null.</summary>
        public string Header(string name)
        {
            foreach (var h in Headers)
                if (string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)) return h.Value;
            return null;
        }

        internal static Response From(ResponseHandle handle)
        {
            using (handle)
            {
                IntPtr body;
                UIntPtr len;
                Check.Ok(Native.suz_response_body(handle, out body, out len));
                var headers = new List<KeyValuePair<string, string>>();
                ulong count = Native.suz_response_header_count(handle).ToUInt64();
                for (ulong i = 0; i < count; i++)
                {
                    IntPtr name, value;
                    Check.Ok(Native.suz_response_header_at(handle, (UIntPtr)i, out name, out value));
                    headers.Add(new KeyValuePair<string, string>(Utf8.Borrowed(name), Utf8.Borrowed(value)));
                }
                return new Response { Status = Native.suz_response_status(handle), Body = Utf8.Bytes(body, len), Headers = headers };
            }
        }
    }

    /// <summary>A configured client. Every method may be called from many threads at once;
    /// Dispose frees it once the calls in flight have returned, and any later call throws
    /// ObjectDisposedException.</summary>
    public sealed class Client : IDisposable
    {
        private readonly ClientHandle handle;

        /// <summary>A client from a JSON configuration (see the README's configuration reference).</summary>
        public Client(string configJson)
        {
            Check.Ok(Native.suz_client_new(Utf8.Arg(configJson, nameof(configJson)), out handle));
        }

        public static string Version { get { return Utf8.Borrowed(Native.suz_version()); } }

        private ClientHandle Live()
        {
            if (handle.IsClosed) throw new ObjectDisposedException(nameof(Client));
            return handle;
        }

        private static SignerHandle Of(Signer signer) { return signer == null ? SignerHandle.None() : signer.Live(); }

        private static Token TokenOf(uint rc, TokenHandle t)
        {
            Check.Ok(rc);
            return new Token(t);
        }

        // --- one-call flows (signer null: the configured signer.command)

        /// <summary>The status of every profile as JSON (suz_client_status): flow, the cached
        /// token (masked) with its expiry and refresh time, the signing certificate's facts.
        /// Reads the cache; fetches nothing.</summary>
        public string Status()
        {
            IntPtr json;
            Check.Ok(Native.suz_client_status(Live(), out json));
            return Utf8.Take(json);
        }

        public string RegisterConnection(string omsId, string registrationKey, string address, Signer signer = null, bool pharma = false)
        {
            IntPtr conn;
            Check.Ok(Native.suz_register_connection(Live(), Utf8.Arg(omsId, nameof(omsId)), Utf8.Arg(registrationKey, nameof(registrationKey)),
                Utf8.Arg(address, nameof(address)), pharma, Of(signer), out conn));
            return Utf8.Take(conn);
        }

        /// <summary>MDLP: PASSWORD when password is not null, else SIGNED_CODE with the signer.</summary>
        public Token GetTokenMdlp(string omsConnection, string clientId, string clientSecret, string userId, string password = null, Signer signer = null)
        {
            TokenHandle t;
            uint rc = Native.suz_get_token_mdlp(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), Utf8.Arg(clientId, nameof(clientId)),
                Utf8.Arg(clientSecret, nameof(clientSecret)), Utf8.Arg(userId, nameof(userId)), Utf8.Arg(password, nameof(password), false), Of(signer), out t);
            return TokenOf(rc, t);
        }

        public Token GetTokenGismt(string omsConnection, Signer signer = null)
        {
            TokenHandle t;
            uint rc = Native.suz_get_token_gismt(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), Of(signer), out t);
            return TokenOf(rc, t);
        }

        public Token GetTokenTrueApi(string omsConnection, string inn = null, Signer signer = null)
        {
            TokenHandle t;
            uint rc = Native.suz_get_token_trueapi(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), Utf8.Arg(inn, nameof(inn), false), Of(signer), out t);
            return TokenOf(rc, t);
        }

        public Token GetTokenSmartMarket(string clientId, string clientSecret, string scope = null)
        {
            TokenHandle t;
            uint rc = Native.suz_get_token_smartmarket(Live(), Utf8.Arg(clientId, nameof(clientId)), Utf8.Arg(clientSecret, nameof(clientSecret)),
                Utf8.Arg(scope, nameof(scope), false), out t);
            return TokenOf(rc, t);
        }

        /// <summary>SmartPush apprequest: the whole JSON body in, the answer's JSON out.</summary>
        public string SmartPush(string accessToken, string bodyJson)
        {
            IntPtr answer;
            Check.Ok(Native.suz_smartpush_request(Live(), Utf8.Arg(accessToken, nameof(accessToken)), Utf8.Arg(bodyJson, nameof(bodyJson)), out answer));
            return Utf8.Take(answer);
        }

        // --- two phases

        public Pending BeginRegistration(string omsId, string registrationKey, string address)
        {
            PendingHandle p;
            Check.Ok(Native.suz_register_begin(Live(), Utf8.Arg(omsId, nameof(omsId)), Utf8.Arg(registrationKey, nameof(registrationKey)), Utf8.Arg(address, nameof(address)), out p));
            return new Pending(p);
        }

        public Pending BeginMdlp(string omsConnection, string clientId, string clientSecret, string userId)
        {
            PendingHandle p;
            Check.Ok(Native.suz_mdlp_begin(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), Utf8.Arg(clientId, nameof(clientId)),
                Utf8.Arg(clientSecret, nameof(clientSecret)), Utf8.Arg(userId, nameof(userId)), out p));
            return new Pending(p);
        }

        public Pending BeginGismt(string omsConnection)
        {
            PendingHandle p;
            Check.Ok(Native.suz_gismt_begin(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), out p));
            return new Pending(p);
        }

        public Pending BeginTrueApi(string omsConnection, string inn = null)
        {
            PendingHandle p;
            Check.Ok(Native.suz_trueapi_begin(Live(), Utf8.Arg(omsConnection, nameof(omsConnection)), Utf8.Arg(inn, nameof(inn), false), out p));
            return new Pending(p);
        }

        public Token FinishToken(Pending pending, byte[] signature)
        {
            if (pending == null) throw new ArgumentNullException(nameof(pending));
            if (signature == null) throw new ArgumentNullException(nameof(signature));
            TokenHandle t;
            uint rc = Native.suz_pending_finish_token(Live(), pending.Live(), signature, (UIntPtr)signature.Length, out t);
            return TokenOf(rc, t);
        }

        public string FinishRegistration(Pending pending, byte[] signature)
        {
            if (pending == null) throw new ArgumentNullException(nameof(pending));
            if (signature == null) throw new ArgumentNullException(nameof(signature));
            IntPtr conn;
            Check.Ok(Native.suz_pending_finish_registration(Live(), pending.Live(), signature, (UIntPtr)signature.Length, out conn));
            return Utf8.Take(conn);
        }

        /// <summary>A Pending from Pending.Export, made by any client with the same configuration.</summary>
        public Pending ImportPending(string exported)
        {
            PendingHandle p;
            Check.Ok(Native.suz_pending_import(Live(), Utf8.Arg(exported, nameof(exported)), out p));
            return new Pending(p);
        }

        // --- profiles and the token cache

        /// <summary>The signer of one profile, or (profile null) of every profile without its own.</summary>
        public void SetSigner(Signer signer, string profile = null)
        {
            if (signer == null) throw new ArgumentNullException(nameof(signer));
            Check.Ok(Native.suz_client_set_signer(Live(), Utf8.Arg(profile, nameof(profile), false), signer.Live()));
        }

        /// <summary>The profile's token: cached while fresh, otherwise fetched once for every
        /// thread and process on this machine.</summary>
        public Token GetToken(string profile)
        {
            TokenHandle t;
            uint rc = Native.suz_token_get(Live(), Utf8.Arg(profile, nameof(profile)), out t);
            return TokenOf(rc, t);
        }

        /// <summary>The value of GetToken's token, with no object to dispose: the call to make
        /// per request.</summary>
        public string GetTokenValue(string profile)
        {
            var buffer = new byte[Native.TokenValueMax];
            UIntPtr needed;
            long expires, freshUntil;
            Check.Ok(Native.suz_token_get_value(Live(), Utf8.Arg(profile, nameof(profile)), buffer, (UIntPtr)buffer.Length, out needed, out expires, out freshUntil));
            return Encoding.ASCII.GetString(buffer, 0, (int)needed.ToUInt64() - 1);
        }

        public Task<Token> GetTokenAsync(string profile) { return Task.Run(() => GetToken(profile)); }
        public Task<string> GetTokenValueAsync(string profile) { return Task.Run(() => GetTokenValue(profile)); }
        public Task<Token> GetTokenSmartMarketAsync(string clientId, string clientSecret, string scope = null)
        {
            return Task.Run(() => GetTokenSmartMarket(clientId, clientSecret, scope));
        }
        public Task<Token> GetTokenGismtAsync(string omsConnection, Signer signer = null) { return Task.Run(() => GetTokenGismt(omsConnection, signer)); }
        public Task<Response> RequestAsync(string profile, string method, string path, string body = null)
        {
            return Task.Run(() => Request(profile, method, path, body));
        }

        /// <summary>The cached token (a Token), or this caller's lease and what to sign (a Pending).</summary>
        public IDisposable Acquire(string profile)
        {
            TokenHandle t;
            PendingHandle p;
            Check.Ok(Native.suz_token_acquire(Live(), Utf8.Arg(profile, nameof(profile)), out t, out p));
            if (!t.IsInvalid) { p.Dispose(); return new Token(t); }
            t.Dispose();
            return new Pending(p);
        }

        public Token Complete(Pending pending, byte[] signature)
        {
            if (pending == null) throw new ArgumentNullException(nameof(pending));
            if (signature == null) throw new ArgumentNullException(nameof(signature));
            TokenHandle t;
            uint rc = Native.suz_token_complete(Live(), pending.Live(), signature, (UIntPtr)signature.Length, out t);
            return TokenOf(rc, t);
        }

        public void Release(Pending pending)
        {
            if (pending == null) throw new ArgumentNullException(nameof(pending));
            Check.Ok(Native.suz_token_release(Live(), pending.Live()));
        }

        /// <summary>Drops the cached token only if it is still `token`; true if it did.</summary>
        public bool Invalidate(string profile, Token token)
        {
            if (token == null) throw new ArgumentNullException(nameof(token));
            bool dropped;
            Check.Ok(Native.suz_token_invalidate(Live(), Utf8.Arg(profile, nameof(profile)), token.Live(), out dropped));
            return dropped;
        }

        /// <summary>An authorized call with the profile's token; retried once with a new token on 401.</summary>
        public Response Request(string profile, string method, string path, string body = null)
        {
            ResponseHandle r;
            Check.Ok(Native.suz_request(Live(), Utf8.Arg(profile, nameof(profile)), Utf8.Arg(method, nameof(method)), Utf8.Arg(path, nameof(path)),
                Utf8.Arg(body, nameof(body), false), out r));
            return Response.From(r);
        }

        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>The library's log (process-wide).</summary>
    public static class Log
    {
        private static readonly LogCallback Trampoline = Deliver;
        private static readonly object Gate = new object();
        private static GCHandle current;

        /// <summary>Sends the library's messages up to `level` to `handler` (null: off). The
        /// handler runs on any thread; an exception it throws loses that message only.</summary>
        public static void SetHandler(Action<LogLevel, string> handler, LogLevel level = LogLevel.Info)
        {
            lock (Gate)
            {
                GCHandle next = handler != null ? GCHandle.Alloc(handler) : default(GCHandle);
                uint rc = Native.suz_set_log_callback(handler != null ? Trampoline : null,
                    handler != null ? GCHandle.ToIntPtr(next) : IntPtr.Zero, (uint)level);
                if (rc != 0)
                {
                    if (next.IsAllocated) next.Free();
                    Check.Ok(rc);
                }
                // The previous handler has returned everywhere and is never called again.
                if (current.IsAllocated) current.Free();
                current = next;
            }
        }

        private static void Deliver(IntPtr userdata, uint level, IntPtr message)
        {
            try
            {
                var handler = (Action<LogLevel, string>)GCHandle.FromIntPtr(userdata).Target;
                handler((LogLevel)level, Utf8.Borrowed(message));
            }
            catch (Exception) { /* nothing may cross into native code */ }
        }
    }
}
