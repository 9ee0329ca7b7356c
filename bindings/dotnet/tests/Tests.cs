// The C# binding against the emulator, run with mono by bindings/dotnet/tests/run.sh: every
// flow, the two phases, the token cache, requests, every error family the emulator can
// produce, threads, signers that throw, and the dispose rules. Ends with "N passed, M failed".
//
//   mono Tests.exe EMULATOR_URL CERT_PEM KEY_PEM PACKAGE_VERSION
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using SuzAuth;

static class Tests
{
    const string Connection = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";
    const string OmsId = "cdf12109-10d3-11e6-8b6f-0050569977a1";
    const string RegistrationKey = "4344d884-7f21-456c-981e-cd68e92391e8";
    const string PharmaKey = "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f";
    const string MdlpId = "7df0d06f-6510-44fe-a378-76cb53e2605f";
    const string MdlpSecret = "49781b3a-19d5-4ad7-b1b6-abb57e598d41";
    const string SmId = "e5623627-bb8c-412c-94b7-1a6998e8ef3a";
    const string SmSecret = "887d15a2-cb4f-4998-9591-5b26d62d3751";

    static string url, cert, key;
    static int passed, failed;

    static void Check(string name, bool ok, string detail = null)
    {
        if (ok) { passed++; Console.WriteLine("ok   " + name); }
        else { failed++; Console.WriteLine("FAIL " + name + (detail != null ? ": " + detail : "")); }
    }

    static void Test(string name, Action body)
    {
        try { body(); }
        catch (Exception e) { Check(name, false, "unexpected " + e); }
    }

    /// <summary>The exception `body` throws, or null (a failed check) if it throws none.</summary>
    static T Throws<T>(string name, Action body) where T : Exception
    {
        try { body(); }
        catch (T e) { return e; }
        catch (Exception e) { Check(name, false, "threw " + e.GetType().Name + ": " + e.Message); return null; }
        Check(name, false, "threw nothing");
        return null;
    }

    static byte[] OpensslSign(byte[] data, SignatureKind kind)
    {
        string input = Path.GetTempFileName(), output = input + ".der";
        File.WriteAllBytes(input, data);
        var p = Process.Start(new ProcessStartInfo("openssl",
            "cms -sign -engine gost -binary -outform DER -signer " + cert + " -inkey " + key + " -in " + input + " -out " + output +
            (kind == SignatureKind.Attached ? " -nodetach" : "")) { UseShellExecute = false, RedirectStandardError = true });
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        byte[] signature = File.ReadAllBytes(output);
        File.Delete(input);
        File.Delete(output);
        return signature;
    }

    static string Admin(string method, string path, string body = null)
    {
        var request = (HttpWebRequest)WebRequest.Create(url + path);
        request.Method = method;
        if (body != null)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(body);
            request.ContentType = "application/json";
            using (var s = request.GetRequestStream()) s.Write(bytes, 0, bytes.Length);
        }
        using (var response = (HttpWebResponse)request.GetResponse())
        using (var reader = new StreamReader(response.GetResponseStream()))
            return reader.ReadToEnd();
    }

    static long Stat(string name)
    {
        string stats = Admin("GET", "/admin/stats");
        int at = stats.IndexOf("\"" + name + "\":", StringComparison.Ordinal);
        if (at < 0) return -1;
        string rest = stats.Substring(at + name.Length + 3);
        return long.Parse(new string(rest.TakeWhile(char.IsDigit).ToArray()));
    }

    static string Config(string extra = "")
    {
        return "{\"stand\": \"emulator\", \"emulator_url\": \"" + url + "\", \"timeouts\": {\"total_ms\": 20000}" + extra + "}";
    }

    static void Flows()
    {
        using (var client = new Client(Config()))
        using (var signer = Signer.FromFunction(OpensslSign))
        {
            Check("version", Client.Version.Length > 0);
            using (var sm = client.GetTokenSmartMarket(SmId, SmSecret))
            {
                Check("smartmarket token", sm.Flow == Flow.SmartMarket && sm.Value.Length > 0 && sm.ExpiresAt > sm.ObtainedAt);
                Check("token ToString is masked", !sm.ToString().Contains(sm.Value));
                string answer = client.SmartPush(sm.Value, "{\"requestPayload\": {\"x\": 1}}");
                Check("smartpush", answer.Contains("requestId"), answer);
            }
            using (var t = client.GetTokenGismt(Connection, signer)) Check("gismt, callback signer", t.Flow == Flow.Gismt);
            using (var t = client.GetTokenTrueApi(Connection, "7707083893", signer)) Check("trueapi with inn", t.Flow == Flow.TrueApi);
            using (var t = client.GetTokenMdlp(Connection, MdlpId, MdlpSecret, "1865725612", null, signer)) Check("mdlp signed code", t.Flow == Flow.Mdlp);
            using (var t = client.GetTokenMdlp(Connection, MdlpId, MdlpSecret, "user@example.org", "password123")) Check("mdlp password", t.Flow == Flow.Mdlp);
            Check("registration, signed", client.RegisterConnection(OmsId, RegistrationKey, "line 1", signer).Length == 36);
            Check("registration, pharma", client.RegisterConnection(OmsId, PharmaKey, "line 2", null, true).Length == 36);
            string argv = "[\"openssl\", \"cms\", \"-sign\", \"-engine\", \"gost\", \"-binary\", \"-outform\", \"DER\", \"-signer\", \"" + cert + "\", \"-inkey\", \"" + key + "\"";
            using (var command = Signer.FromCommand("{\"attached\": " + argv + ", \"-nodetach\"], \"detached\": " + argv + "]}"))
            using (var t = client.GetTokenGismt(Connection, command))
                Check("gismt, command signer", t.Flow == Flow.Gismt);
            using (var t = client.GetTokenSmartMarketAsync(SmId, SmSecret).Result) Check("async fetch", t.Flow == Flow.SmartMarket);
        }
    }

    static void TwoPhases()
    {
        using (var client = new Client(Config()))
        using (var other = new Client(Config()))
        {
            string state;
            byte[] signature;
            using (var pending = client.BeginGismt(Connection))
            {
                Check("pending kind", pending.Kind == SignatureKind.Attached);
                signature = OpensslSign(pending.Data, pending.Kind);
                state = pending.Export();
            }
            using (var imported = other.ImportPending(state))
            using (var t = other.FinishToken(imported, signature))
                Check("two phases across clients (export, import, finish)", t.Flow == Flow.Gismt);
            using (var reg = client.BeginRegistration(OmsId, RegistrationKey, "line 3"))
                Check("registration, two phases", client.FinishRegistration(reg, OpensslSign(reg.Data, reg.Kind)).Length == 36);
            using (var mdlp = client.BeginMdlp(Connection, MdlpId, MdlpSecret, "1865725612"))
            using (var t = client.FinishToken(mdlp, OpensslSign(mdlp.Data, mdlp.Kind)))
                Check("mdlp, two phases", t.Flow == Flow.Mdlp);
            using (var ta = client.BeginTrueApi(Connection))
            using (var t = client.FinishToken(ta, OpensslSign(ta.Data, ta.Kind)))
                Check("trueapi, two phases", t.Flow == Flow.TrueApi);
        }
    }

    static void CacheThreadsAndRequests()
    {
        string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"line\": {\"flow\": \"gismt\", \"oms_connection\": \"" + Connection +
                          "\", \"oms_id\": \"" + OmsId + "\"}}";
        using (var client = new Client(Config(profiles)))
        using (var signer = Signer.FromFunction(OpensslSign))
        {
            client.SetSigner(signer, "line");
            long before = Stat("tokens_issued_total");
            var values = new string[8];
            var threads = Enumerable.Range(0, 8).Select(i => new Thread(() => { using (var t = client.GetToken("line")) values[i] = t.Value; })).ToList();
            threads.ForEach(t => t.Start());
            threads.ForEach(t => t.Join());
            Check("8 threads, one token", values.All(v => v == values[0]) && Stat("tokens_issued_total") - before == 1);
            Check("GetTokenValue is the cached token", client.GetTokenValue("line") == values[0]);
            Check("GetTokenValueAsync", client.GetTokenValueAsync("line").Result == values[0]);

            var ping = client.Request("line", "GET", "/api/v2/pharma/ping");
            Check("request", ping.Status == 200 && ping.Body.Length > 0 && ping.Header("Content-Type") != null);
            Check("request, async", client.RequestAsync("line", "GET", "/api/v2/pharma/ping").Result.Status == 200);

            using (var current = client.GetToken("line"))
            {
                Check("invalidate the current token", client.Invalidate("line", current));
                Check("invalidate again keeps what is there", !client.Invalidate("line", current));
            }
            using (var acquired = client.Acquire("line"))
            {
                var pending = acquired as Pending;
                Check("acquire gives the lease after invalidation", pending != null);
                if (pending != null)
                    using (var done = client.Complete(pending, OpensslSign(pending.Data, pending.Kind)))
                        Check("complete stores the token for everyone", done.Value == client.GetTokenValue("line"));
            }
            using (var acquired = client.Acquire("line"))
                Check("acquire gives the cached token", acquired is Token);
            var unknown = Throws<InvalidArgumentException>("unknown profile", () => client.GetToken("nope"));
            Check("unknown profile", unknown != null && unknown.Message.Contains("nope"));
        }
    }

    static void Errors()
    {
        var config = Throws<ConfigException>("config", () => new Client("{\"stnad\": \"emulator\"}"));
        Check("a config error names the key", config != null && config.Code == ResultCode.Config && config.Message.Contains("stnad"));
        using (var nowhere = new Client("{\"stand\": \"emulator\", \"emulator_url\": \"http://127.0.0.1:9\", \"timeouts\": {\"total_ms\": 5000}}"))
            Check("connection refused", Throws<ConnectException>("connect", () => nowhere.GetTokenSmartMarket(SmId, SmSecret)) != null);
        using (var client = new Client(Config()))
        using (var signer = Signer.FromFunction(OpensslSign))
        {
            var wrong = Throws<UnauthorizedException>("401", () => client.GetTokenSmartMarket(SmId, "wrong-secret"));
            Check("401 with status and RqUID, no secret", wrong != null && wrong.HttpStatus == 401 && wrong.RqUID.Length > 0 && !wrong.Message.Contains("wrong-secret"));
            Admin("POST", "/admin/faults", "{\"endpoint\": \"smartmarket.oauth\", \"kind\": \"status\", \"status\": 429, \"retry_after\": 7, \"times\": 3}");
            var busy = Throws<TooManyRequestsException>("429", () => client.GetTokenSmartMarket(SmId, SmSecret));
            Check("429 with Retry-After", busy != null && busy.RetryAfter == TimeSpan.FromSeconds(7));
            Admin("DELETE", "/admin/faults");
            Admin("POST", "/admin/faults", "{\"endpoint\": \"smartmarket.oauth\", \"kind\": \"html\", \"times\": 3}");
            var html = Throws<HttpServerErrorException>("html", () => client.GetTokenSmartMarket(SmId, SmSecret));
            Check("a proxy's HTML page", html != null && html.HttpStatus == 502);
            Admin("DELETE", "/admin/faults");
            Admin("POST", "/admin/faults", "{\"endpoint\": \"gismt.key\", \"kind\": \"status\", \"status\": 500, \"times\": 3}");
            var server = Throws<HttpServerErrorException>("500", () => client.GetTokenGismt(Connection, signer));
            Check("500", server != null && server.HttpStatus == 500);
            Admin("DELETE", "/admin/faults");
            Admin("POST", "/admin/faults", "{\"endpoint\": \"smartmarket.oauth\", \"kind\": \"truncated\", \"times\": 3}");
            Check("a cut answer", Throws<SuzException>("truncated", () => client.GetTokenSmartMarket(SmId, SmSecret)) != null);
            Admin("DELETE", "/admin/faults");

            using (var throws = Signer.FromFunction((d, k) => { throw new IOException("smart card removed"); }))
            {
                var e = Throws<SignerException>("throwing signer", () => client.GetTokenGismt(Connection, throws));
                Check("a throwing signer: SignerException with the original as InnerException",
                    e != null && e.InnerException is IOException && e.InnerException.Message == "smart card removed" && e.Message.Contains("smart card removed"));
            }
            using (var nulls = Signer.FromFunction((d, k) => null))
                Check("a signer returning null", Throws<SignerException>("null signer", () => client.GetTokenGismt(Connection, nulls)) != null);
            using (var garbage = Signer.FromFunction((d, k) => Encoding.ASCII.GetBytes("not a signature")))
                Check("a signer returning garbage", Throws<SignerException>("garbage", () => client.GetTokenGismt(Connection, garbage)) != null);
            using (var t = client.GetTokenGismt(Connection, signer)) Check("the client still works", t.Flow == Flow.Gismt);
            Check("an embedded NUL is ArgumentException", Throws<ArgumentException>("nul", () => client.GetTokenGismt("11b1\0abc", signer)) != null);
            Check("null is ArgumentNullException", Throws<ArgumentNullException>("null", () => client.GetTokenGismt(null, signer)) != null);
            var async = Throws<AggregateException>("async error", () => client.GetTokenSmartMarketAsync(SmId, "wrong").Wait());
            Check("an async call's failure is the typed exception", async != null && async.InnerException is UnauthorizedException);
        }
    }

    static void DisposeRulesAndLog()
    {
        var client = new Client(Config());
        var token = client.GetTokenSmartMarket(SmId, SmSecret);
        client.Dispose();
        client.Dispose(); // harmless
        Check("a call after Dispose: ObjectDisposedException", Throws<ObjectDisposedException>("disposed client", () => client.GetTokenSmartMarket(SmId, SmSecret)) != null);
        Check("a token outlives its client", token.Value.Length > 0);
        token.Dispose();
        Check("a disposed token: ObjectDisposedException", Throws<ObjectDisposedException>("disposed token", () => { var v = token.Value; }) != null);
        var signer = Signer.FromFunction(OpensslSign);
        signer.Dispose();
        using (var c = new Client(Config()))
            Check("a disposed signer: ObjectDisposedException", Throws<ObjectDisposedException>("disposed signer", () => c.GetTokenGismt(Connection, signer)) != null);

        // A signer's delegate lives while the library holds the signer, and is released when
        // the library drops it (userdata_free frees the GCHandle).
        var alive = MakeSigner(out var disposable);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Check("a signer's delegate is kept alive while the library holds it", alive.IsAlive);
        disposable.Dispose();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Check("the library's userdata_free releases the delegate", !alive.IsAlive);

        var lines = new List<string>();
        Log.SetHandler((level, message) => { lock (lines) lines.Add(message); }, LogLevel.Debug);
        string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"push\": {\"flow\": \"smartmarket\", \"client_id\": \"" + SmId + "\", \"client_secret\": \"" + SmSecret + "\"}}";
        using (var c = new Client(Config(profiles)))
        {
            c.GetTokenValue("push");
            Log.SetHandler((level, message) => { throw new InvalidOperationException("log sink full"); }, LogLevel.Debug);
            c.GetTokenValue("push");
        }
        Log.SetHandler(null);
        Check("the log handler hears the library, never a secret", lines.Count > 0 && !lines.Any(l => l.Contains(SmSecret)));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static WeakReference MakeSigner(out Signer signer)
    {
        var marker = new byte[] { 1 };
        Func<byte[], SignatureKind, byte[]> fn = (d, k) => marker;
        signer = Signer.FromFunction(fn);
        return new WeakReference(fn);
    }

    /// <summary>SuzAuth.dll as a netstandard2.0 consumer sees it: its only reference is
    /// netstandard 2.0.0.0, its version is the package's, and it names its target framework.</summary>
    static void AssemblyMetadata()
    {
        var assembly = typeof(Client).Assembly;
        var references = assembly.GetReferencedAssemblies().Select(r => r.FullName).ToArray();
        var version = assembly.GetName().Version.ToString();
        var informational = assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Select(a => a.InformationalVersion).FirstOrDefault();
        var framework = assembly.GetCustomAttributes(typeof(System.Runtime.Versioning.TargetFrameworkAttribute), false)
            .Cast<System.Runtime.Versioning.TargetFrameworkAttribute>().Select(a => a.FrameworkName).FirstOrDefault();
        Console.WriteLine("SuzAuth.dll references: " + string.Join("; ", references));
        Console.WriteLine("SuzAuth.dll version: " + version + " (" + informational + "), target framework: " + framework);
        Check("SuzAuth.dll references only netstandard 2.0",
            references.SequenceEqual(new[] { "netstandard, Version=2.0.0.0, Culture=neutral, PublicKeyToken=cc7b13ffcd2ddd51" }),
            string.Join("; ", references));
        Check("SuzAuth.dll version is the package's", version == PackageVersion + ".0" && informational == PackageVersion,
            version + " / " + informational + ", package " + PackageVersion);
        Check("SuzAuth.dll targets .NETStandard 2.0", framework == ".NETStandard,Version=v2.0", framework);
    }

    static string PackageVersion;

    // The tokens signed in without an installation (True API's own, the united token, GIS MT's
    // own) come through the same profile calls as every other flow.
    static void SignedInTokens()
    {
        var cases = new[] {
            Tuple.Create("trueapi_token", Flow.TrueApiToken, true),
            Tuple.Create("united_token", Flow.UnitedToken, false),
            Tuple.Create("gismt_token", Flow.GismtToken, true),
        };
        foreach (var c in cases)
        {
            string name = c.Item1;
            string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"own\": {\"flow\": \"" + name + "\", \"certificate\": \"csharp-test-cert\"}}";
            using (var client = new Client(Config(profiles)))
            using (var signer = Signer.FromFunction(OpensslSign))
            {
                client.SetSigner(signer, "own");
                long before = Stat("tokens_issued_total");
                string value;
                using (var t = client.GetToken("own"))
                {
                    Check(name + ": the flow", t.Flow == c.Item2);
                    // A JWT, or the united token's UUID.
                    Check(name + ": its form", (t.Value.Split('.').Length == 3) == c.Item3, t.Value);
                    value = t.Value;
                }
                Check(name + ": cached", client.GetTokenValue("own") == value);
                string status = client.Status();
                Check(name + ": the status shows the signing certificate, not the value",
                    status.Contains("\"thumbprint\"") && !status.Contains(value), status);
                Check(name + ": one sign-in", Stat("tokens_issued_total") - before == 1);
            }
        }
    }

    // MDLP's own session (no installation) through the profile calls: signed and with a password;
    // Request sends it as `Authorization: token`.
    static void MdlpSession()
    {
        string creds = "\"client_id\": \"" + MdlpId + "\", \"client_secret\": \"" + MdlpSecret + "\"";
        string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {"
            + "\"signed\": {\"flow\": \"mdlp_session\", \"user_id\": \"1865725612\", " + creds + "}, "
            + "\"password\": {\"flow\": \"mdlp_session\", \"user_id\": \"user@example.org\", \"password\": \"password123\", " + creds + "}}";
        using (var client = new Client(Config(profiles)))
        using (var signer = Signer.FromFunction(OpensslSign))
        {
            client.SetSigner(signer, "signed");
            foreach (var profile in new[] { "signed", "password" })
            {
                using (var t = client.GetToken(profile))
                {
                    Check("mdlp_session " + profile + ": the flow", t.Flow == Flow.MdlpSession);
                }
                var r = client.Request(profile, "GET", "/documents/cs-doc");
                Check("mdlp_session " + profile + ": Authorization: token", r.Status == 200 && r.BodyText.Contains("cs-doc"), r.Status + " " + r.BodyText);
            }
        }
    }

    // A due token is refreshed on a thread of the library's: the delegate runs there (Mono
    // enters the runtime on it) while the callers keep the valid token.
    static void RefreshAhead()
    {
        string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"early\": {\"flow\": \"gismt\", \"oms_connection\": \"" + Connection +
                          "\", \"refresh_margin_ms\": 36000000}}";
        var threads = new List<int>();
        using (var client = new Client(Config(profiles)))
        {
            using (var signer = Signer.FromFunction((d, k) => { lock (threads) threads.Add(Thread.CurrentThread.ManagedThreadId); return OpensslSign(d, k); }, anyThread: true))
                client.SetSigner(signer);
            string first = client.GetTokenValue("early");
            Check("the valid token at once", client.GetTokenValue("early") == first);
            string renewed = first;
            for (int i = 0; i < 1000 && renewed == first; i++)
            {
                Thread.Sleep(10);
                renewed = client.GetTokenValue("early");
            }
            Check("a new token", renewed != first);
            lock (threads)
                Check("signed on a thread of the library's", threads.Count >= 2 && threads[0] == Thread.CurrentThread.ManagedThreadId && threads[1] != threads[0]);
        }
    }

    static int Main(string[] args)
    {
        if (args.Length != 4) { Console.Error.WriteLine("usage: Tests.exe EMULATOR_URL CERT_PEM KEY_PEM PACKAGE_VERSION"); return 2; }
        url = args[0];
        cert = args[1];
        key = args[2];
        PackageVersion = args[3];
        Test("assembly metadata", AssemblyMetadata);
        Test("flows", Flows);
        Test("two phases", TwoPhases);
        Test("cache, threads and requests", CacheThreadsAndRequests);
        Test("tokens signed in without an installation", SignedInTokens);
        Test("MDLP's own session", MdlpSession);
        Test("refresh ahead with a signer callable from any thread", RefreshAhead);
        Test("errors", Errors);
        Test("dispose rules and the log", DisposeRulesAndLog);
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
