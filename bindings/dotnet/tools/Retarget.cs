// Makes SuzAuth.dll a netstandard2.0 library: Mono's mcs compiles only against Mono's own
// assemblies (it resolves the netstandard facade's type forwarders to mscorlib), so the
// compiled library references mscorlib, System and System.Core. This rewrites every type
// reference into those to one reference to netstandard 2.0.0.0, after checking that each type
// is one netstandard forwards (the netstandard2.0 surface), and fails on any other reference.
//
//   mono Retarget.exe IN.dll NETSTANDARD_FACADE.dll OUT.dll
using System;
using System.Collections.Generic;
using System.Linq;
using Mono.Cecil;

static class Retarget
{
    static readonly string[] Framework = { "mscorlib", "System", "System.Core" };

    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: Retarget.exe IN.dll NETSTANDARD_FACADE.dll OUT.dll");
            return 2;
        }
        var facade = ModuleDefinition.ReadModule(args[1]);
        var surface = new HashSet<string>(facade.ExportedTypes.Select(t => t.FullName));
        var netstandardName = facade.Assembly.Name;
        if (netstandardName.Name != "netstandard" || netstandardName.Version != new Version(2, 0, 0, 0))
        {
            Console.Error.WriteLine("Retarget: " + args[1] + " is " + netstandardName.FullName + ", not netstandard 2.0.0.0");
            return 2;
        }

        var module = ModuleDefinition.ReadModule(args[0]);
        var netstandard = new AssemblyNameReference("netstandard", netstandardName.Version)
        {
            PublicKeyToken = netstandardName.PublicKeyToken,
        };
        var problems = new List<string>();
        foreach (var type in module.GetTypeReferences())
        {
            // A nested type's scope is its declaring type's: only top-level ones carry it.
            if (type.DeclaringType != null) continue;
            var scope = type.Scope as AssemblyNameReference;
            if (scope == null || !Framework.Contains(scope.Name)) continue;
            if (!surface.Contains(type.FullName))
                problems.Add(type.FullName + " (from " + scope.Name + ") is not in netstandard " + netstandardName.Version);
            type.Scope = netstandard;
        }
        foreach (var reference in module.AssemblyReferences.ToList())
        {
            if (Framework.Contains(reference.Name)) module.AssemblyReferences.Remove(reference);
            else problems.Add("references " + reference.FullName);
        }
        module.AssemblyReferences.Add(netstandard);
        if (problems.Count > 0)
        {
            foreach (var p in problems) Console.Error.WriteLine("Retarget: " + p);
            return 1;
        }
        module.Write(args[2]);
        Console.WriteLine("Retarget: " + args[2] + " references " + netstandard.FullName);
        return 0;
    }
}
