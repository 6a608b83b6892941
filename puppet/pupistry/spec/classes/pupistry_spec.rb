# frozen_string_literal: true

require 'spec_helper'

describe 'pupistry' do
  let(:params) { { storage: 's3://acme-puppet/fleet', trusted_keys: { 'release.asc' => PUBLIC_KEY } } }

  it 'has facts for both OS families its metadata supports' do
    families = on_supported_os.values.map { |facts| facts[:os]['family'] }.uniq.sort
    expect(families).to eq(%w[Debian RedHat])
  end

  on_supported_os.each do |os, os_facts|
    context "on #{os}" do
      let(:facts) { os_facts }

      it { is_expected.to compile.with_all_deps }

      it 'writes the settings 0600 root and the keys into a purged directory' do
        is_expected.to contain_file('/etc/pupistry/settings.yaml').with(owner: 'root', group: 'root', mode: '0600')
        is_expected.to contain_file('/etc/pupistry/trusted-keys').with(ensure: 'directory', mode: '0755', recurse: true, purge: true, force: true)
        is_expected.to contain_file('/etc/pupistry/trusted-keys/release.asc').with(mode: '0644', content: PUBLIC_KEY)
      end

      it 'runs the daemon, stops the timer and the puppet agent' do
        is_expected.to contain_file('/etc/systemd/system/pupistry.service').with(mode: '0644').with_content(%r{^ExecStart=/usr/local/bin/pupistry apply --daemon --config /etc/pupistry/settings.yaml$})
        is_expected.to contain_file('/etc/systemd/system/pupistry.timer').with_ensure('absent')
        is_expected.to contain_service('pupistry.service').with(ensure: 'running', enable: true).that_subscribes_to('File[/etc/systemd/system/pupistry.service]')
        is_expected.to contain_service('pupistry.timer').with(ensure: 'stopped', enable: false).that_comes_before('File[/etc/systemd/system/pupistry.timer]')
        is_expected.to contain_service('puppet').with(ensure: 'stopped', enable: false)
      end

      it 'never manages puppet.conf or hiera.yaml' do
        files = catalogue.resources.select { |resource| resource.type == 'File' }.map(&:title)
        expect(files.grep(%r{puppet\.conf|hiera\.yaml})).to be_empty
      end
    end
  end

  context 'with default facts' do
    let(:facts) { on_supported_os.values.first }

    it 'reloads a running daemon on a settings change instead of restarting it' do
      is_expected.to contain_exec('pupistry: reload settings')
        .with(command: ['systemctl', 'reload', 'pupistry.service'], refreshonly: true)
        .that_subscribes_to('File[/etc/pupistry/settings.yaml]')
        .that_comes_before('Service[pupistry.service]')
      is_expected.not_to contain_service('pupistry.service').that_subscribes_to('File[/etc/pupistry/settings.yaml]')
      expect(catalogue.resource('File', '/etc/systemd/system/pupistry.service')[:content]).to match(%r{^ExecReload=/bin/kill -HUP \$MAINPID$})
    end

    context 'as a timer' do
      let(:params) { super().merge(run_mode: 'timer', interval: 900) }

      it 'writes the oneshot service and the timer, and starts only the timer' do
        is_expected.to contain_file('/etc/systemd/system/pupistry.service').with_content(%r{^Type=oneshot\nExecStart=/usr/local/bin/pupistry apply --minimal --config /etc/pupistry/settings.yaml\n\z})
        is_expected.to contain_file('/etc/systemd/system/pupistry.timer').with_content(%r{^OnUnitActiveSec=900$})
        is_expected.to contain_service('pupistry.timer').with(ensure: 'running', enable: true)
        is_expected.to contain_service('pupistry.service').with(ensure: 'stopped', enable: false).that_comes_before('File[/etc/systemd/system/pupistry.service]')
        is_expected.not_to contain_exec('pupistry: reload settings')
      end
    end

    context 'with run_mode none' do
      let(:params) { super().merge(run_mode: 'none') }

      it 'stops both units and removes them' do
        %w[pupistry.service pupistry.timer].each do |unit|
          is_expected.to contain_service(unit).with(ensure: 'stopped', enable: false)
          is_expected.to contain_file("/etc/systemd/system/#{unit}").with_ensure('absent').that_requires("Service[#{unit}]")
        end
      end
    end

    context 'with json logs and a stop timeout' do
      let(:params) { super().merge(log_format: 'json', stop_timeout: 120) }

      it 'passes --log-format json and waits the longer stop' do
        content = catalogue.resource('File', '/etc/systemd/system/pupistry.service')[:content]
        expect(content).to match(%r{^ExecStart=/usr/local/bin/pupistry apply --daemon --config /etc/pupistry/settings.yaml --log-format json$})
        expect(content).to match(%r{^TimeoutStopSec=160$})
      end
    end

    context 'without managing services' do
      let(:params) { super().merge(manage_service: false, manage_puppet_agent: false) }

      it('writes the units but declares no service') do
        is_expected.to contain_file('/etc/systemd/system/pupistry.service')
        is_expected.to have_service_resource_count(0)
        is_expected.to have_exec_resource_count(0)
      end
    end

    it 'refuses a bad environment name' do
      params[:environment] = 'feature-x'
      is_expected.to compile.and_raise_error(%r{parameter 'environment' expects a match for Pupistry::Environment})
    end

    it 'refuses npm without an exact version, and `latest`' do
      params[:install_method] = 'npm'
      is_expected.to compile.and_raise_error(%r{install_method npm needs an exact version})
      params[:version] = 'latest'
      is_expected.to compile.and_raise_error(%r{parameter 'version' expects .*Pupistry::ExactVersion})
    end

    it 'refuses a secret key among the trusted keys, and no keys at all' do
      params[:trusted_keys] = { 'oops.asc' => "-----BEGIN PGP PRIVATE KEY BLOCK-----\n" }
      is_expected.to compile.and_raise_error(%r{oops\.asc holds a SECRET key})
      params[:trusted_keys] = {}
      is_expected.to compile.and_raise_error(%r{no trusted_keys})
    end

    it 'refuses a key file name that is a path or hidden' do
      params[:trusted_keys] = { '../evil.asc' => PUBLIC_KEY }
      is_expected.to compile.and_raise_error(%r{trusted_keys})
    end

    it 'refuses a node without a store, and takes the Ruby tool\'s s3_bucket from extra_settings' do
      params.delete(:storage)
      is_expected.to compile.and_raise_error(%r{no store})
      params[:extra_settings] = { 'general' => { 's3_bucket' => 'acme-puppet', 's3_prefix' => 'fleet' } }
      is_expected.to compile.with_all_deps
    end

    it 'refuses half a credential pair' do
      params[:access_key_id] = sensitive('AKIA')
      is_expected.to compile.and_raise_error(%r{both access_key_id and secret_access_key})
    end

    context 'with extra settings' do
      let(:params) do
        super().merge(region: 'eu-west-1', keep_releases: 5,
                      extra_settings: { 'agent' => { 'region' => 'us-east-2', 'allow_insecure_http' => true }, 'general' => { 's3_checksums' => 'when_supported' } })
      end

      it 'merges them last, key by key' do
        settings = YAML.safe_load(catalogue.resource('File', '/etc/pupistry/settings.yaml')[:content])
        expect(settings).to eq(
          'general' => { 'storage' => 's3://acme-puppet/fleet', 'app_cache' => '/var/lib/pupistry', 'trusted_keys' => ['/etc/pupistry/trusted-keys'],
                         's3_checksums' => 'when_supported' },
          'agent' => { 'environment' => 'production', 'keep_releases' => 5, 'region' => 'us-east-2', 'allow_insecure_http' => true },
        )
      end
    end

    it 'refuses an extra settings section nodes do not read' do
      params[:extra_settings] = { 'build' => { 'puppetcode' => 'x' } }
      is_expected.to compile.and_raise_error(%r{extra_settings})
    end

    it 'shows diffs of settings that hold no credentials' do
      file = catalogue.resource('File', '/etc/pupistry/settings.yaml')
      expect(file[:show_diff]).to be(true)
      expect(file.sensitive_parameters).to be_empty
    end

    context 'with a mirror URL holding a password' do
      let(:params) { super().merge(mirror: 'https://node:pa55@mirror.example.com/pupistry/') }

      it 'keeps the settings out of diffs' do
        expect(catalogue.resource('File', '/etc/pupistry/settings.yaml')[:show_diff]).to be(false)
      end
    end

    context 'with credentials' do
      let(:params) { super().merge(access_key_id: sensitive('AKIAREAD'), secret_access_key: sensitive('s3cret')) }

      it 'keeps the settings out of diffs and reports' do
        file = catalogue.resource('File', '/etc/pupistry/settings.yaml')
        expect(file[:show_diff]).to be(false)
        expect(file.sensitive_parameters).to include(:content)
        expect(file[:content]).to match(%r{^  secret_access_key: s3cret$})
      end
    end

    context 'with npm' do
      let(:params) do
        super().merge(install_method: 'npm', version: '3.0.0', npm_registry: 'http://127.0.0.1:4873/',
                      plugins: { '@pupistry/librarian' => '3.0.1' })
      end

      it 'installs exactly that version from that registry, then the plugins' do
        is_expected.to contain_exec('pupistry: npm install')
          .with(command: ['npm', 'install', '--global', '--prefix', '/opt/pupistry', '--no-audit', '--no-fund', '--omit=dev', 'pupistry@3.0.0'],
                environment: ['HOME=/root', 'npm_config_registry=http://127.0.0.1:4873/'])
          .that_comes_before('File[/usr/local/bin/pupistry]')
        is_expected.to contain_file('/usr/local/bin/pupistry').with(ensure: 'link', target: '/opt/pupistry/bin/pupistry')
        is_expected.to contain_exec('pupistry: plugins install @pupistry/librarian')
          .with(command: ['/usr/local/bin/pupistry', 'plugins', 'install', '@pupistry/librarian@3.0.1'])
          .that_requires('File[/usr/local/bin/pupistry]')
        is_expected.to contain_exec('pupistry: plugins install @pupistry/librarian').that_comes_before('File[/etc/pupistry/settings.yaml]')
      end
    end

    it 'installs nothing by default' do
      is_expected.to have_exec_resource_count(1) # the reload, refresh-only
      is_expected.not_to contain_file('/usr/local/bin/pupistry')
    end
  end
end
