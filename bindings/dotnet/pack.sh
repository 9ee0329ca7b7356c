#!/usr/bin/env bash
# Builds SuzAuth.dll (netstandard2.0, bindings/dotnet/build.sh) and writes the NuGet package
# SuzAuth.VERSION.nupkg (an OPC zip, made here without NuGet):
#   lib/netstandard2.0/SuzAuth.dll (+ SuzAuth.xml)      the binding
#   runtimes/{linux-x64,win-x64,win-x86}/native/         the native library for each platform
#   build/SuzAuth.targets                                copies the right suz_auth.dll next to
#                                                        a .NET Framework (packages.config) build
#
# Usage: bindings/dotnet/pack.sh --linux-x64 FILE --win-x64 FILE --win-x86 FILE --out DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/lib.sh"
linux= win64= win32= out=
while [ $# -gt 0 ]; do
    case $1 in
        --linux-x64) linux=$2; shift 2 ;;
        --win-x64) win64=$2; shift 2 ;;
        --win-x86) win32=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
for f in "$linux" "$win64" "$win32"; do
    [ -n "$f" ] && [ -f "$f" ] || { echo "usage: $0 --linux-x64 FILE --win-x64 FILE --win-x86 FILE --out DIR (missing: '$f')" >&2; exit 2; }
done
[ -n "$out" ] || { echo "--out DIR is required" >&2; exit 2; }
ensure_packages mono-mcs mono-devel zip unzip
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib/netstandard2.0" "$stage/runtimes/linux-x64/native" "$stage/runtimes/win-x64/native" \
    "$stage/runtimes/win-x86/native" "$stage/build" "$stage/_rels" "$stage/package/services/metadata/core-properties"
"$here/build.sh" "$stage/lib/netstandard2.0/SuzAuth.dll" -optimize+ \
    -doc:"$stage/lib/netstandard2.0/SuzAuth.xml" -nowarn:1591
cp "$linux" "$stage/runtimes/linux-x64/native/libsuz_auth.so"
cp "$win64" "$stage/runtimes/win-x64/native/suz_auth.dll"
cp "$win32" "$stage/runtimes/win-x86/native/suz_auth.dll"

cat >"$stage/SuzAuth.nuspec" <<XML
<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>SuzAuth</id>
    <version>$version</version>
    <authors>suz-auth</authors>
    <license type="expression">MIT OR Apache-2.0</license>
    <description>Dynamic API tokens for Chestny ZNAK SUZ (MDLP, GIS MT, True API) and Sber SmartMarket: cached, refreshed, one fetch per installation. P/Invoke over the suz-auth native library (Linux x64, Windows x64 and x86; Windows 10 or newer).</description>
    <tags>suz chestny-znak crpt smartmarket token gost</tags>
    <dependencies>
      <group targetFramework=".NETStandard2.0" />
    </dependencies>
  </metadata>
</package>
XML
cat >"$stage/build/SuzAuth.targets" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<!-- .NET Framework projects (packages.config) do not read runtimes/: copy the native library
     for the process's bitness next to the build output. -->
<Project xmlns="http://schemas.microsoft.com/developer/msbuild/2003">
  <ItemGroup Condition="'$(TargetFrameworkIdentifier)' == '.NETFramework'">
    <None Include="$(MSBuildThisFileDirectory)..\runtimes\win-x86\native\suz_auth.dll"
          Condition="'$(Platform)' == 'x86' Or '$(PlatformTarget)' == 'x86' Or '$(Prefer32Bit)' == 'true'">
      <Link>suz_auth.dll</Link>
      <CopyToOutputDirectory>PreserveNewest</CopyToOutputDirectory>
      <Visible>false</Visible>
    </None>
    <None Include="$(MSBuildThisFileDirectory)..\runtimes\win-x64\native\suz_auth.dll"
          Condition="'$(Platform)' != 'x86' And '$(PlatformTarget)' != 'x86' And '$(Prefer32Bit)' != 'true'">
      <Link>suz_auth.dll</Link>
      <CopyToOutputDirectory>PreserveNewest</CopyToOutputDirectory>
      <Visible>false</Visible>
    </None>
  </ItemGroup>
</Project>
XML
props=$(python3 -c 'import uuid; print(uuid.uuid4().hex)')
cat >"$stage/[Content_Types].xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml" />
  <Default Extension="psmdcp" ContentType="application/vnd.openxmlformats-package.core-properties+xml" />
  <Default Extension="nuspec" ContentType="application/octet" />
  <Default Extension="dll" ContentType="application/octet" />
  <Default Extension="so" ContentType="application/octet" />
  <Default Extension="xml" ContentType="application/octet" />
  <Default Extension="targets" ContentType="application/octet" />
</Types>
XML
cat >"$stage/_rels/.rels" <<XML
<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/SuzAuth.nuspec" Id="R1" />
  <Relationship Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="/package/services/metadata/core-properties/$props.psmdcp" Id="R2" />
</Relationships>
XML
cat >"$stage/package/services/metadata/core-properties/$props.psmdcp" <<XML
<?xml version="1.0" encoding="utf-8"?>
<coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://schemas.openxmlformats.org/package/2006/metadata/core-properties">
  <dc:creator>suz-auth</dc:creator>
  <dc:identifier>SuzAuth</dc:identifier>
  <version>$version</version>
</coreProperties>
XML

mkdir -p "$out"
nupkg=$(realpath -m "$out/SuzAuth.$version.nupkg")
rm -f "$nupkg"
(cd "$stage" && zip -q -X -r "$nupkg" "[Content_Types].xml" _rels package SuzAuth.nuspec lib runtimes build)
listed=$(unzip -Z1 "$nupkg")
for entry in "[Content_Types].xml" _rels/.rels SuzAuth.nuspec lib/netstandard2.0/SuzAuth.dll \
    runtimes/linux-x64/native/libsuz_auth.so runtimes/win-x64/native/suz_auth.dll \
    runtimes/win-x86/native/suz_auth.dll build/SuzAuth.targets; do
    grep -qxF "$entry" <<<"$listed" || { echo "$nupkg lacks $entry" >&2; exit 1; }
done
echo "wrote $nupkg"
