// The C ABI as P/Invoke declarations: one per function in include/suz_auth.h, each with its
// calling convention written out (x86 .NET defaults to StdCall; the library is cdecl), C bool
// as one byte, strings as NUL-terminated UTF-8 byte arrays in and IntPtr out.
using System;
using System.Runtime.InteropServices;

namespace SuzAuth
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int SignCallback(IntPtr userdata, IntPtr data, UIntPtr len, uint kind, IntPtr sink);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void UserdataFree(IntPtr userdata);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void LogCallback(IntPtr userdata, uint level, IntPtr message);

    internal static class Native
    {
        // libsuz_auth.so on Linux, suz_auth.dll on Windows.
        private const string Lib = "suz_auth";
        private const CallingConvention C = CallingConvention.Cdecl;

        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_string_free(IntPtr s);
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_version();
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_client_new(byte[] configJson, out ClientHandle client);
        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_client_free(IntPtr client);

        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_register_connection(ClientHandle client, byte[] omsId, byte[] registrationKey,
            byte[] address, [MarshalAs(UnmanagedType.I1)] bool pharma, SignerHandle signer, out IntPtr omsConnection);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_get_token_mdlp(ClientHandle client, byte[] omsConnection, byte[] clientId,
            byte[] clientSecret, byte[] userId, byte[] password, SignerHandle signer, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_get_token_gismt(ClientHandle client, byte[] omsConnection, SignerHandle signer, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_get_token_trueapi(ClientHandle client, byte[] omsConnection, byte[] inn, SignerHandle signer, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_get_token_smartmarket(ClientHandle client, byte[] clientId, byte[] clientSecret, byte[] scope, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_smartpush_request(ClientHandle client, byte[] accessToken, byte[] bodyJson, out IntPtr responseJson);

        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_register_begin(ClientHandle client, byte[] omsId, byte[] registrationKey, byte[] address, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_mdlp_begin(ClientHandle client, byte[] omsConnection, byte[] clientId, byte[] clientSecret, byte[] userId, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_gismt_begin(ClientHandle client, byte[] omsConnection, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_trueapi_begin(ClientHandle client, byte[] omsConnection, byte[] inn, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_pending_data(PendingHandle pending, out IntPtr data, out UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_pending_kind(PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_pending_finish_token(ClientHandle client, PendingHandle pending, byte[] signature, UIntPtr len, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_pending_finish_registration(ClientHandle client, PendingHandle pending, byte[] signature, UIntPtr len, out IntPtr omsConnection);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_pending_export(PendingHandle pending, out IntPtr exported);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_pending_import(ClientHandle client, byte[] exported, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_pending_free(IntPtr pending);

        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_token_value(TokenHandle token);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_token_flow(TokenHandle token);
        [DllImport(Lib, CallingConvention = C)] internal static extern long suz_token_obtained_at_ms(TokenHandle token);
        [DllImport(Lib, CallingConvention = C)] internal static extern long suz_token_expires_at_ms(TokenHandle token);
        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_token_free(IntPtr token);

        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_last_error_code();
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_last_error_message();
        [DllImport(Lib, CallingConvention = C)] internal static extern ushort suz_last_http_status();
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_last_server_code();
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_last_server_message();
        [DllImport(Lib, CallingConvention = C)] internal static extern long suz_last_retry_after_ms();
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_last_rquid();
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_result_name(uint code);

        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_signer_new_callback(SignCallback callback, IntPtr userdata, UserdataFree userdataFree, out SignerHandle signer);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_signer_new_callback_any_thread(SignCallback callback, IntPtr userdata, UserdataFree userdataFree, out SignerHandle signer);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_signer_new_command(byte[] commandJson, out SignerHandle signer);
        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_signer_free(IntPtr signer);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_signature_sink_write(IntPtr sink, byte[] bytes, UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_signature_sink_fail(IntPtr sink, byte[] message);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_set_log_callback(LogCallback callback, IntPtr userdata, uint maxLevel);

        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_client_set_signer(ClientHandle client, byte[] profile, SignerHandle signer);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_client_status(ClientHandle client, out IntPtr json);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_token_get(ClientHandle client, byte[] profile, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_token_get_value(ClientHandle client, byte[] profile, byte[] buf, UIntPtr bufLen,
            out UIntPtr needed, out long expiresAtMs, out long freshUntilMs);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_token_acquire(ClientHandle client, byte[] profile, out TokenHandle token, out PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_token_complete(ClientHandle client, PendingHandle pending, byte[] signature, UIntPtr len, out TokenHandle token);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_token_release(ClientHandle client, PendingHandle pending);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_token_invalidate(ClientHandle client, byte[] profile, TokenHandle token, [MarshalAs(UnmanagedType.I1)] out bool dropped);

        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_request(ClientHandle client, byte[] profile, byte[] method, byte[] path, byte[] body, out ResponseHandle response);
        [DllImport(Lib, CallingConvention = C)] internal static extern ushort suz_response_status(ResponseHandle response);
        [DllImport(Lib, CallingConvention = C)] internal static extern uint suz_response_body(ResponseHandle response, out IntPtr body, out UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] internal static extern IntPtr suz_response_header(ResponseHandle response, byte[] name);
        [DllImport(Lib, CallingConvention = C)] internal static extern UIntPtr suz_response_header_count(ResponseHandle response);
        [DllImport(Lib, CallingConvention = C)]
        internal static extern uint suz_response_header_at(ResponseHandle response, UIntPtr index, out IntPtr name, out IntPtr value);
        [DllImport(Lib, CallingConvention = C)] internal static extern void suz_response_free(IntPtr response);

        internal const int TokenValueMax = 8193; // SUZ_TOKEN_VALUE_MAX
    }
}
