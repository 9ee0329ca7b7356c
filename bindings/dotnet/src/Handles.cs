// One SafeHandle per native object: freed exactly once, never while a call is using it (the
// marshaller holds a reference for the length of each call), and never after Dispose.
using System;
using Microsoft.Win32.SafeHandles;

namespace SuzAuth
{
    internal sealed class ClientHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        internal ClientHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.suz_client_free(handle); return true; }
    }

    internal sealed class SignerHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        internal SignerHandle() : base(true) { }
        private SignerHandle(bool owns) : base(owns) { SetHandle(IntPtr.Zero); }
        /// <summary>NULL, for "the configured signer": passed as is, never freed.</summary>
        internal static SignerHandle None() { return new SignerHandle(false); }
        protected override bool ReleaseHandle() { Native.suz_signer_free(handle); return true; }
    }

    internal sealed class TokenHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        internal TokenHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.suz_token_free(handle); return true; }
    }

    internal sealed class PendingHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        internal PendingHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.suz_pending_free(handle); return true; }
    }

    internal sealed class ResponseHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        internal ResponseHandle() : base(true) { }
        protected override bool ReleaseHandle() { Native.suz_response_free(handle); return true; }
    }
}
